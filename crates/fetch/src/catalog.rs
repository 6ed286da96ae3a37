//! InsightFace's official model packs (release v0.7), with the SHA-256 of
//! each zip and of each model file in it. The per-file hashes are the ones
//! `../shared/models/PROVENANCE.md` lists; the zip hashes and sizes are the
//! published release assets'.

use crate::PackSpec;

macro_rules! release {
    ($file:literal) => {
        concat!(
            "https://github.com/deepinsight/insightface/releases/download/v0.7/",
            $file
        )
    };
}

const DET_10G: (&str, &str) = (
    "det_10g.onnx",
    "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
);
const DET_2_5G: (&str, &str) = (
    "det_2.5g.onnx",
    "041f73f47371333d1d17a6fee6c8ab4e6aecabefe398ff32cca4e2d5eaee0af9",
);
const DET_500M: (&str, &str) = (
    "det_500m.onnx",
    "5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a",
);
const SCRFD_10G_BNKPS: (&str, &str) = ("scrfd_10g_bnkps.onnx", DET_10G.1);
const W600K_R50: (&str, &str) = (
    "w600k_r50.onnx",
    "4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
);
const W600K_MBF: (&str, &str) = (
    "w600k_mbf.onnx",
    "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
);
const GLINTR100: (&str, &str) = (
    "glintr100.onnx",
    "4ab1d6435d639628a6f3e5008dd4f929edf4c4124b1a7169e1048f9fef534cdf",
);
const GENDERAGE: (&str, &str) = (
    "genderage.onnx",
    "4fde69b1c810857b88c64a335084f1c3fe8f01246c9a191b48c7bb756d6652fb",
);
const LANDMARK_2D_106: (&str, &str) = (
    "2d106det.onnx",
    "f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf",
);
const LANDMARK_3D_68: (&str, &str) = (
    "1k3d68.onnx",
    "df5c06b8a0c12e422b2ed8947b8869faa4105387f199c477af038aa01f9a45cc",
);

/// The packs `facekit models fetch` knows, by name.
pub const OFFICIAL_PACKS: [PackSpec<'static>; 5] = [
    PackSpec {
        name: "buffalo_l",
        url: release!("buffalo_l.zip"),
        sha256: "80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f",
        size: Some(288_621_354),
        files: &[
            LANDMARK_3D_68,
            LANDMARK_2D_106,
            DET_10G,
            GENDERAGE,
            W600K_R50,
        ],
    },
    PackSpec {
        name: "buffalo_m",
        url: release!("buffalo_m.zip"),
        sha256: "d98264bd8f2dc75cbc2ddce2a14e636e02bb857b3051c234b737bf3b614edca9",
        size: Some(275_951_529),
        files: &[
            LANDMARK_3D_68,
            LANDMARK_2D_106,
            DET_2_5G,
            GENDERAGE,
            W600K_R50,
        ],
    },
    PackSpec {
        name: "buffalo_s",
        url: release!("buffalo_s.zip"),
        sha256: "d85a87f503f691807cd8bb97128bdf7a0660326cd9cd02657127fa978bab8b5e",
        size: Some(127_607_557),
        files: &[
            LANDMARK_3D_68,
            LANDMARK_2D_106,
            DET_500M,
            GENDERAGE,
            W600K_MBF,
        ],
    },
    PackSpec {
        name: "buffalo_sc",
        url: release!("buffalo_sc.zip"),
        sha256: "57d31b56b6ffa911c8a73cfc1707c73cab76efe7f13b675a05223bf42de47c72",
        size: Some(14_969_382),
        files: &[DET_500M, W600K_MBF],
    },
    PackSpec {
        name: "antelopev2",
        url: release!("antelopev2.zip"),
        sha256: "8e182f14fc6e80b3bfa375b33eb6cff7ee05d8ef7633e738d1c89021dcf0c5c5",
        size: Some(360_662_982),
        files: &[
            LANDMARK_3D_68,
            LANDMARK_2D_106,
            GENDERAGE,
            GLINTR100,
            SCRFD_10G_BNKPS,
        ],
    },
];

/// The official pack called `name`.
pub fn official_pack(name: &str) -> Option<&'static PackSpec<'static>> {
    OFFICIAL_PACKS.iter().find(|p| p.name == name)
}
