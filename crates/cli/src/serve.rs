//! `facekit serve` and `facekit keys`: the HTTP API's settings (config file,
//! then flags), its runtime and signals, and its key file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use facekit_gallery::contract_of;
use facekit_monitor::MonitorStore;
use facekit_runtime::Provider;
use facekit_server::keys::{KeyStore, Role};
use facekit_server::{Server, ServerConfig};
use serde::Deserialize;

use crate::args::{Common, KeysCommand, ServeArgs};
use crate::eval::calibrated_threshold;
use crate::gallery::{home_file, master_key, open_address, print};
use crate::{Stages, analyzer};

/// The config file: the files the server uses and its `[server]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConfigFile {
    gallery: Option<String>,
    /// The gallery's master key file (`--key-file` overrides).
    gallery_key_file: Option<PathBuf>,
    /// A command printing the gallery's master key (`--key-command` overrides).
    gallery_key_command: Option<String>,
    keys: Option<PathBuf>,
    /// Execution providers in order of preference (`--provider` overrides).
    providers: Vec<String>,
    server: ServerConfig,
}

fn read_config(path: Option<&Path>) -> Result<ConfigFile> {
    let Some(path) = path else {
        return Ok(ConfigFile::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

pub fn serve(args: &ServeArgs, common: &Common) -> Result<bool> {
    let file = read_config(args.config.as_deref())?;
    let mut config = file.server;
    config.bind = args.bind.unwrap_or(config.bind);
    if args.tls_cert.is_some() {
        config.tls_cert = args.tls_cert.clone();
        config.tls_key = args.tls_key.clone();
    }
    config.auth &= !args.no_auth;
    config.ui &= !args.no_ui;
    let limits = &mut config.limits;
    limits.workers = args.workers.unwrap_or(limits.workers).max(1);
    limits.queue = args.queue.unwrap_or(limits.queue);
    limits.max_body_bytes = args.max_body_bytes.unwrap_or(limits.max_body_bytes);
    limits.request_timeout_secs = args.timeout.unwrap_or(limits.request_timeout_secs);
    if limits.request_timeout_secs.is_nan() || limits.request_timeout_secs <= 0.0 {
        anyhow::bail!("the request timeout must be a positive number of seconds");
    }

    let mut common = common.clone();
    if common.providers.is_empty() {
        common.providers = file
            .providers
            .iter()
            .map(|p| p.parse::<Provider>())
            .collect::<Result<_, _>>()
            .context("config file: providers")?;
    }
    let analyzer = analyzer(&common, config.limits.workers, Stages::ALL)?;
    if let Some(far) = args.far {
        config.threshold = calibrated_threshold(far, &contract_of(&analyzer)?.model_sha256)?;
    } else if let Some(threshold) = args.threshold {
        config.threshold = threshold;
    }
    if let Some(policy) = args.liveness.liveness {
        config.liveness = Some(policy);
    }
    let mut gallery_key = args.gallery_key.clone();
    if gallery_key.key_file.is_none() && gallery_key.key_command.is_none() {
        gallery_key.key_file = file.gallery_key_file.clone();
        gallery_key.key_command = file.gallery_key_command.clone();
    }
    let service = open_address(args.db.as_deref().or(file.gallery.as_deref()), &gallery_key)?;
    let keys_path = home_file(args.keys.as_deref().or(file.keys.as_deref()), "keys.db")?;
    let keys = KeyStore::open(&keys_path)?;
    if config.auth && keys.list()?.iter().all(|k| k.revoked_at.is_some()) {
        tracing::warn!(
            "no live API key in {}: every /v1 request will be refused; create one with 'facekit keys create --name NAME --role admin'",
            keys_path.display()
        );
    }
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let listener = std::net::TcpListener::bind(config.bind)
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let address = listener.local_addr()?;
    // Monitors live beside the gallery (its file, or a Milvus gallery's
    // audit file), their sources sealed under the gallery's key.
    let monitor_store = match service.audit_trail() {
        Some(trail) if config.monitors => Some(MonitorStore::open(
            trail.path(),
            master_key(&gallery_key, false)?.as_ref(),
            config.monitor_retention(),
        )?),
        _ => None,
    };
    let mut server = Server::new(analyzer, service, keys, config)?;
    if let Some(store) = monitor_store {
        server = server.with_monitors(store)?;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        print(&serde_json::json!({ "listening": format!("{scheme}://{address}") }))?;
        server.run(listener, shutdown).await?;
        anyhow::Ok(())
    })?;
    Ok(true)
}

pub fn keys(path: Option<&Path>, command: &KeysCommand) -> Result<bool> {
    let store = KeyStore::open(&home_file(path, "keys.db")?)?;
    match command {
        KeysCommand::Create { name, role } => {
            let role: Role = role.parse()?;
            let (key, token) = store.create(name, role)?;
            print(&serde_json::json!({ "key": key, "token": token }))?;
        }
        KeysCommand::List => {
            for key in store.list()? {
                print(&serde_json::to_value(key)?)?;
            }
        }
        KeysCommand::Revoke { id } => print(&serde_json::to_value(store.revoke(id)?)?)?,
    }
    Ok(true)
}
