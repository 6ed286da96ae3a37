use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use facekit_core::{current_stage, timed};
use ort::environment::Environment;
use ort::logging::LogLevel;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorRef, ValueType};

use rayon::prelude::*;

use crate::graph::{self, GraphError, GraphInfo};
use crate::library::{ORT_VERSION, locate_library};
use crate::provider::{self, Provider};

/// Errors from loading ONNX Runtime or running a model.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `libonnxruntime.so` is nowhere facekit looks.
    #[error(
        "ONNX Runtime library (libonnxruntime.so) not found; searched: {searched}. \
         Run `scripts/setup.sh` to install onnxruntime {ORT_VERSION} from PyPI into .facekit/runtime, \
         or set ORT_DYLIB_PATH to the libonnxruntime.so of `pip install onnxruntime=={ORT_VERSION}` \
         (it is in site-packages/onnxruntime/capi/)"
    )]
    LibraryNotFound {
        /// The places searched.
        searched: String,
    },
    /// The library was found but could not be initialised.
    #[error("cannot initialise ONNX Runtime from {path}: {message}")]
    Init {
        /// The library file.
        path: PathBuf,
        /// What ONNX Runtime said.
        message: String,
    },
    /// The model file could not be read.
    #[error("cannot read model {path}: {source}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The model file is not a valid ONNX graph.
    #[error("{path} is not a valid ONNX model: {source}")]
    Graph {
        /// The model file.
        path: PathBuf,
        /// What was wrong.
        source: GraphError,
    },
    /// ONNX Runtime refused the model or a run.
    #[error("ONNX Runtime failed on {path}: {message}")]
    Onnx {
        /// The model file.
        path: PathBuf,
        /// What ONNX Runtime said.
        message: String,
    },
    /// None of the execution providers asked for is in the loaded library.
    #[error(transparent)]
    ProviderUnavailable(Box<ProvidersUnavailable>),
    /// An execution provider is in the library but could not start (a
    /// missing CUDA library, no device).
    #[error(
        "execution provider {provider} could not start for {path}: {message}; add cpu to the list to fall back to it"
    )]
    ProviderFailed {
        /// The provider.
        provider: Provider,
        /// The model file.
        path: PathBuf,
        /// What ONNX Runtime said.
        message: String,
    },
    /// The caller's input does not fit the model.
    #[error("input of shape {shape:?} does not fit {path} (expects {expected:?})")]
    InputShape {
        /// The model file.
        path: PathBuf,
        /// The shape given.
        shape: Vec<usize>,
        /// The declared input shape (−1 = any).
        expected: Vec<i64>,
    },
}

/// The execution providers asked for, none of them in the loaded library.
#[derive(Debug, thiserror::Error)]
#[error(
    "execution provider {requested} not available in this ONNX Runtime build ({library}, which has {available}); \
     {hints}; or add cpu to the list to fall back to it"
)]
pub struct ProvidersUnavailable {
    /// The providers asked for.
    pub requested: String,
    /// Those the library has.
    pub available: String,
    /// The library file.
    pub library: PathBuf,
    /// How to get a build with them.
    pub hints: String,
}

/// How to load ONNX Runtime and run models.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// `libonnxruntime.so` or a folder holding it; see [`locate_library`].
    pub library: Option<PathBuf>,
    /// Intra-op threads per session (default: the available cores).
    pub intra_threads: Option<usize>,
    /// Idle intra-op threads sleep instead of spinning. ONNX Runtime spins
    /// by default, which wins back-to-back runs on photos but burns the
    /// cores that FFmpeg's decoder and encoder need in video.
    pub no_spinning: bool,
    /// Execution providers in order of preference (see [`Provider`]);
    /// empty: CUDA when the library has it, then the CPU.
    pub providers: Vec<Provider>,
}

/// A loaded ONNX Runtime, shared by all models. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    env: Environment,
    intra_threads: usize,
    no_spinning: bool,
    /// The providers in use and why any asked for is not, shared by every
    /// model: one that cannot start is dropped for all later sessions.
    providers: Arc<Mutex<Providers>>,
}

/// A runtime's execution providers, best first, and each fallback's reason.
#[derive(Debug)]
struct Providers {
    in_use: Vec<Provider>,
    fallbacks: Vec<String>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("intra_threads", &self.intra_threads)
            .field("providers", &self.providers)
            .finish()
    }
}

static ENVIRONMENT: OnceLock<Result<(Environment, PathBuf), RuntimeError>> = OnceLock::new();
static INFERENCE_NANOS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's intra-op thread budget set by [`with_intra_threads`].
    static INTRA_THREADS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Runs `f` with every model run made on this thread using sessions of
/// `threads` intra-op threads, instead of the runtime's setting.
///
/// For callers that run models from several threads at once (a worker per
/// core): sessions of all-cores thread pools each, run side by side,
/// oversubscribe the cores and made a parallel batch slower than a serial
/// loop. Sessions are pooled per thread count, so the same loaded model
/// serves both kinds of caller.
///
/// ```no_run
/// # let model: facekit_runtime::OnnxModel = unimplemented!();
/// let input = vec![0.0f32; 3 * 112 * 112];
/// let outputs = facekit_runtime::with_intra_threads(1, || model.run(&input, &[1, 3, 112, 112]))?;
/// # Ok::<(), facekit_runtime::RuntimeError>(())
/// ```
pub fn with_intra_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            INTRA_THREADS.set(self.0);
        }
    }
    let _restore = Restore(INTRA_THREADS.replace(Some(threads.max(1))));
    f()
}

/// Total wall time spent inside `Session::run` by this process, in
/// nanoseconds; benchmarks compare it with the total to find overhead.
pub fn inference_nanos() -> u64 {
    INFERENCE_NANOS.load(Ordering::Relaxed)
}

fn clone_error(e: &RuntimeError) -> RuntimeError {
    match e {
        RuntimeError::LibraryNotFound { searched } => RuntimeError::LibraryNotFound {
            searched: searched.clone(),
        },
        RuntimeError::Init { path, message } => RuntimeError::Init {
            path: path.clone(),
            message: message.clone(),
        },
        other => RuntimeError::Init {
            path: PathBuf::new(),
            message: other.to_string(),
        },
    }
}

impl Runtime {
    /// Loads ONNX Runtime (once per process; later calls share it) with the
    /// given thread count. The library option only matters on the first call.
    pub fn new(options: &RuntimeOptions) -> Result<Self, RuntimeError> {
        let env = ENVIRONMENT.get_or_init(|| {
            let path = locate_library(options.library.as_deref())?;
            let init = |message: String| RuntimeError::Init {
                path: path.clone(),
                message,
            };
            let env = ort::init_from(&path)
                .map_err(|e| init(e.to_string()))?
                .with_name("facekit")
                .build()
                .map_err(|e| init(e.to_string()))?;
            // Dynamic-shape detectors make ORT warn about declared output sizes on
            // every run; those warnings are noise for users.
            env.set_log_level(LogLevel::Error);
            tracing::debug!(library = %path.display(), "loaded ONNX Runtime");
            Ok((env, path))
        });
        let (env, library) = env.as_ref().map_err(clone_error)?;
        let intra_threads = options
            .intra_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let compiled_in = |p: Provider| p.is_compiled_in().unwrap_or(false);
        let (providers, fallbacks) =
            provider::resolve(&options.providers, compiled_in).map_err(|missing| {
                let names = |ps: &mut dyn Iterator<Item = Provider>| {
                    ps.map(Provider::name).collect::<Vec<_>>().join(", ")
                };
                RuntimeError::ProviderUnavailable(Box::new(ProvidersUnavailable {
                    requested: names(&mut missing.iter().copied()),
                    available: names(&mut Provider::ALL.into_iter().filter(|&p| compiled_in(p))),
                    library: library.clone(),
                    hints: missing
                        .iter()
                        .map(|p| format!("for {p}, {}", p.install_hint()))
                        .collect::<Vec<_>>()
                        .join("; "),
                }))
            })?;
        for line in &fallbacks {
            tracing::warn!("{line}");
        }
        Ok(Self {
            env: env.clone(),
            intra_threads,
            no_spinning: options.no_spinning,
            providers: Arc::new(Mutex::new(Providers {
                in_use: providers,
                fallbacks,
            })),
        })
    }

    fn provider_state(&self) -> std::sync::MutexGuard<'_, Providers> {
        self.providers.lock().expect("providers lock")
    }

    /// The execution providers sessions are built with, best first (less
    /// any that could not start).
    pub fn providers(&self) -> Vec<Provider> {
        self.provider_state().in_use.clone()
    }

    /// Each provider asked for but not in use, and why (also logged as a
    /// warning when it happens): what a caller shows its user, since ONNX
    /// Runtime's own fallback to the CPU is silent.
    pub fn fallbacks(&self) -> Vec<String> {
        self.provider_state().fallbacks.clone()
    }

    /// Intra-op threads each session uses.
    pub fn intra_threads(&self) -> usize {
        self.intra_threads
    }

    /// Loads an ONNX model file and reads its signature.
    pub fn load(&self, path: &Path) -> Result<OnnxModel, RuntimeError> {
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let graph_err = |source| RuntimeError::Graph {
            path: path.to_path_buf(),
            source,
        };
        let graph = GraphInfo::scan(&bytes).map_err(graph_err)?;
        let stripped = if graph.unused_inputs.is_empty() {
            None
        } else {
            tracing::debug!(model = %path.display(), inputs = ?graph.unused_inputs, "removing unused graph inputs");
            Some(graph::without_inputs(&bytes, &graph.unused_inputs).map_err(graph_err)?)
        };
        drop(bytes);
        let model = OnnxModel {
            path: path.to_path_buf(),
            stripped,
            signature: ModelSignature::default(),
            graph,
            runtime: self.clone(),
            idle: Mutex::new(Vec::new()),
        };
        let threads = self.intra_threads;
        let session = model.new_session(threads)?;
        let signature = ModelSignature {
            inputs: session
                .inputs()
                .iter()
                .map(|o| TensorSpec::from_outlet(o.name(), o.dtype()))
                .collect(),
            outputs: session
                .outputs()
                .iter()
                .map(|o| TensorSpec::from_outlet(o.name(), o.dtype()))
                .collect(),
        };
        let model = OnnxModel { signature, ..model };
        model
            .idle
            .lock()
            .expect("pool lock")
            .push((threads, session));
        Ok(model)
    }
}

/// A named tensor in a model's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Tensor name.
    pub name: String,
    /// Declared shape; −1 marks a dynamic dimension.
    pub shape: Vec<i64>,
    /// Whether the element type is 32-bit float.
    pub is_f32: bool,
}

impl TensorSpec {
    /// `(width, height)` of an NCHW tensor whose spatial sides are both fixed.
    pub fn fixed_size(&self) -> Option<(u32, u32)> {
        match self.shape.as_slice() {
            [_, _, h, w] if *h > 0 && *w > 0 => Some((*w as u32, *h as u32)),
            _ => None,
        }
    }

    fn from_outlet(name: &str, dtype: &ValueType) -> Self {
        let (shape, is_f32) = match dtype {
            ValueType::Tensor { ty, shape, .. } => (
                shape.iter().copied().collect(),
                *ty == ort::value::TensorElementType::Float32,
            ),
            _ => (Vec::new(), false),
        };
        Self {
            name: name.to_string(),
            shape,
            is_f32,
        }
    }
}

/// The inputs and outputs a session exposes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSignature {
    /// Inputs ONNX Runtime must be fed (initializers excluded).
    pub inputs: Vec<TensorSpec>,
    /// Outputs in graph order.
    pub outputs: Vec<TensorSpec>,
}

/// One output of a run, copied out of ONNX Runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor {
    /// Actual shape.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub data: Vec<f32>,
}

/// A loaded model: signature plus a pool of sessions. `Send + Sync`; each
/// concurrent [`run`](Self::run) uses its own session, of the intra-op
/// thread count the calling thread asks for (see [`with_intra_threads`]).
pub struct OnnxModel {
    path: PathBuf,
    /// The model bytes with unused inputs removed, when the file had any.
    stripped: Option<Vec<u8>>,
    signature: ModelSignature,
    graph: GraphInfo,
    runtime: Runtime,
    /// Idle sessions with their intra-op thread counts.
    idle: Mutex<Vec<(usize, Session)>>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("path", &self.path)
            .field("signature", &self.signature)
            .finish()
    }
}

impl OnnxModel {
    fn onnx_error(&self, e: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Onnx {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// A session on the runtime's providers, best first: an accelerator
    /// that cannot start (a machine fault, not this model's) is dropped from
    /// the runtime for the next provider in the list, the CPU included when
    /// listed, with the reason logged once and kept in
    /// [`Runtime::fallbacks`]; with nothing left to fall back to, the error.
    fn new_session(&self, intra_threads: usize) -> Result<Session, RuntimeError> {
        loop {
            let providers = self.runtime.providers();
            let accelerators: Vec<(Provider, ort::ep::ExecutionProviderDispatch)> = providers
                .iter()
                .filter_map(|&p| p.dispatch().map(|d| (p, d)))
                .collect();
            let (provider, path, message) = match self.new_session_on(intra_threads, &accelerators)
            {
                Err(RuntimeError::ProviderFailed {
                    provider,
                    path,
                    message,
                }) => (provider, path, message),
                other => return other,
            };
            let mut state = self.runtime.provider_state();
            if !state.in_use.contains(&provider) {
                continue; // another thread's session dropped it meanwhile
            }
            let Some(&next) = state.in_use.iter().find(|&&p| p != provider) else {
                return Err(RuntimeError::ProviderFailed {
                    provider,
                    path,
                    message,
                });
            };
            state.in_use.retain(|&p| p != provider);
            let line = format!(
                "execution provider '{provider}' could not start for {}: {}; using {next} instead",
                path.display(),
                message.trim_end(),
            );
            tracing::warn!("{line}");
            state.fallbacks.push(line);
        }
    }

    fn new_session_on(
        &self,
        intra_threads: usize,
        accelerators: &[(Provider, ort::ep::ExecutionProviderDispatch)],
    ) -> Result<Session, RuntimeError> {
        let mut builder = Session::builder(&self.runtime.env)
            .map_err(|e| self.onnx_error(e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| self.onnx_error(e))?
            .with_intra_threads(intra_threads)
            .map_err(|e| self.onnx_error(e))?
            .with_intra_op_spinning(!self.runtime.no_spinning)
            .map_err(|e| self.onnx_error(e))?
            .with_log_level(LogLevel::Error)
            .map_err(|e| self.onnx_error(e))?;
        for (provider, dispatch) in accelerators {
            builder = builder
                .with_execution_providers([dispatch.clone()])
                .map_err(|e| RuntimeError::ProviderFailed {
                    provider: *provider,
                    path: self.path.clone(),
                    message: e.to_string(),
                })?;
        }
        match &self.stripped {
            Some(bytes) => builder.commit_from_memory(bytes),
            None => builder.commit_from_file(&self.path),
        }
        .map_err(|e| self.onnx_error(e))
    }

    /// The file this model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Inputs and outputs.
    pub fn signature(&self) -> &ModelSignature {
        &self.signature
    }

    /// Facts read from the ONNX graph itself.
    pub fn graph(&self) -> &GraphInfo {
        &self.graph
    }

    /// Whether the first input's batch dimension is dynamic.
    pub fn dynamic_batch(&self) -> bool {
        self.signature
            .inputs
            .first()
            .is_some_and(|i| i.shape.first().is_some_and(|&d| d < 0))
    }

    /// Runs `count` items of shape `item` (without the batch dimension): all
    /// in one run when the batch dimension is dynamic, one run each otherwise.
    /// `fill(i, dst)` writes item `i`. Returns the first output split per item.
    ///
    /// Called from a worker of a rayon pool with more than one thread (a
    /// batch of photos), the runs are split among the pool's threads: a
    /// group photo's faces would otherwise keep one core busy while the
    /// others, out of photos, wait (`facekit bench` counted 27 % of the
    /// cores idle on ../shared/images). Idle workers take parts; busy ones
    /// never wait for them, and no more sessions are made than workers.
    pub fn run_batch(
        &self,
        count: usize,
        item: &[usize],
        fill: impl Fn(usize, &mut [f32]) + Sync,
    ) -> Result<Vec<Vec<f32>>, RuntimeError> {
        let workers = match rayon::current_thread_index() {
            Some(_) => rayon::current_num_threads(),
            None => 1,
        };
        let chunk = if !self.dynamic_batch() {
            1
        } else if workers > 1 {
            count.div_ceil(workers).max(1)
        } else {
            count.max(1)
        };
        let len: usize = item.iter().product();
        let run_chunk = |start: usize| -> Result<Vec<Vec<f32>>, RuntimeError> {
            let n = chunk.min(count - start);
            let mut blob = vec![0.0f32; len * n];
            for (k, dst) in blob.chunks_exact_mut(len).enumerate() {
                fill(start + k, dst);
            }
            let shape: Vec<usize> = std::iter::once(n).chain(item.iter().copied()).collect();
            let first = self.run(&blob, &shape)?.swap_remove(0);
            let per_item = first.data.len() / n;
            Ok(first
                .data
                .chunks_exact(per_item)
                .map(<[f32]>::to_vec)
                .collect())
        };
        let starts: Vec<usize> = (0..count).step_by(chunk).collect();
        let parts: Vec<Vec<Vec<f32>>> = if workers > 1 && starts.len() > 1 {
            // A part taken by another worker runs with the caller's session
            // size and is timed as the caller's stage.
            let threads = INTRA_THREADS.get();
            let stage = current_stage();
            starts
                .into_par_iter()
                .map(|start| {
                    let run = || match threads {
                        Some(t) => with_intra_threads(t, || run_chunk(start)),
                        None => run_chunk(start),
                    };
                    match stage {
                        Some(stage) => timed(stage, run),
                        None => run(),
                    }
                })
                .collect::<Result<_, _>>()?
        } else {
            starts
                .into_iter()
                .map(run_chunk)
                .collect::<Result<_, _>>()?
        };
        Ok(parts.into_iter().flatten().collect())
    }

    /// Runs the model on one `f32` tensor fed to its first input and returns
    /// every output. Uses an idle pooled session of this thread's intra-op
    /// thread count or makes a new one.
    pub fn run(&self, input: &[f32], shape: &[usize]) -> Result<Vec<OutputTensor>, RuntimeError> {
        let spec = self
            .signature
            .inputs
            .first()
            .ok_or_else(|| self.onnx_error("the model has no input"))?;
        let fits = spec.shape.len() == shape.len()
            && spec
                .shape
                .iter()
                .zip(shape)
                .all(|(&d, &s)| d < 0 || d as usize == s)
            && shape.iter().product::<usize>() == input.len();
        if !fits {
            return Err(RuntimeError::InputShape {
                path: self.path.clone(),
                shape: shape.to_vec(),
                expected: spec.shape.clone(),
            });
        }
        let threads = INTRA_THREADS.get().unwrap_or(self.runtime.intra_threads);
        let idle = {
            let mut pool = self.idle.lock().expect("pool lock");
            let found = pool.iter().rposition(|(t, _)| *t == threads);
            found.map(|i| pool.swap_remove(i).1)
        };
        let mut session = match idle {
            Some(s) => s,
            None => self.new_session(threads)?,
        };
        let result = (|| {
            let tensor = TensorRef::from_array_view((shape.to_vec(), input))
                .map_err(|e| self.onnx_error(e))?;
            let start = Instant::now();
            let outputs = session
                .run(ort::inputs![spec.name.as_str() => tensor])
                .map_err(|e| self.onnx_error(e))?;
            INFERENCE_NANOS.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            outputs
                .values()
                .map(|v| {
                    let (shape, data) = v
                        .try_extract_tensor::<f32>()
                        .map_err(|e| self.onnx_error(e))?;
                    Ok(OutputTensor {
                        shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                        data: data.to_vec(),
                    })
                })
                .collect::<Result<Vec<_>, RuntimeError>>()
        })();
        self.idle
            .lock()
            .expect("pool lock")
            .push((threads, session));
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real model with one extra graph input no node reads — what int8
    /// quantisers leave behind — must load and run without being fed it.
    #[test]
    fn a_dangling_graph_input_does_not_break_loading() {
        let original = std::fs::read(facekit_testdata::model(
            "synthetic/synthetic_arcface_mxnet.onnx",
        ))
        .unwrap();
        let model = graph::tests::with_extra_input(&original, "conv_1_conv2d_weight");
        assert_eq!(
            GraphInfo::scan(&model).unwrap().unused_inputs,
            vec!["conv_1_conv2d_weight"]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dangling.onnx");
        std::fs::write(&path, &model).unwrap();
        let loaded = Runtime::new(&RuntimeOptions::default())
            .unwrap()
            .load(&path)
            .unwrap();
        assert_eq!(loaded.signature().inputs.len(), 1);
        let out = loaded
            .run(&vec![0.5; 3 * 112 * 112], &[1, 3, 112, 112])
            .unwrap();
        assert_eq!(out[0].shape, vec![1, 512]);
    }

    /// A thread asking for one intra-op thread gets a session of its own
    /// kind, kept beside the default one; both give the same outputs.
    #[test]
    fn sessions_are_pooled_per_intra_op_thread_count() {
        let runtime = Runtime::new(&RuntimeOptions {
            intra_threads: Some(2),
            ..RuntimeOptions::default()
        })
        .unwrap();
        let model = runtime
            .load(&facekit_testdata::model(
                "synthetic/synthetic_arcface_mxnet.onnx",
            ))
            .unwrap();
        let input: Vec<f32> = (0..3 * 112 * 112)
            .map(|i| (i % 255) as f32 / 255.0)
            .collect();
        let shape = [1, 3, 112, 112];
        let default = model.run(&input, &shape).unwrap();
        let single = with_intra_threads(1, || model.run(&input, &shape)).unwrap();
        let again = with_intra_threads(1, || model.run(&input, &shape)).unwrap();
        let mut pooled: Vec<usize> = model.idle.lock().unwrap().iter().map(|(t, _)| *t).collect();
        pooled.sort();
        assert_eq!(pooled, vec![1, 2]);
        assert_eq!(single, again);
        let close = default[0]
            .data
            .iter()
            .zip(&single[0].data)
            .all(|(a, b)| (a - b).abs() <= 1e-4 * a.abs().max(1.0));
        assert!(close);
        // The budget ends with the closure.
        assert_eq!(INTRA_THREADS.get(), None);
    }
}
