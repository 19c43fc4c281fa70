//! Writes the Rust stubs (prost messages, tonic client and server) for the files of a descriptor
//! set that `buf build -o FILE --path proto/llmgateway` made, so Rust generation needs buf and
//! this program only (no protoc, no remote plugins). `make gen` runs it:
//!
//!     llmgateway-codegen DESCRIPTOR_SET OUT_DIR
use std::{env, fs, process::ExitCode};

use prost::Message;
use prost_types::FileDescriptorSet;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().collect();
    let [_, descriptor_set, out_dir] = args.as_slice() else {
        eprintln!("usage: llmgateway-codegen DESCRIPTOR_SET OUT_DIR");
        return ExitCode::from(2);
    };
    let bytes = match fs::read(descriptor_set) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("{descriptor_set}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let fds = match FileDescriptorSet::decode(bytes.as_slice()) {
        Ok(fds) => fds,
        Err(error) => {
            eprintln!("{descriptor_set}: not a FileDescriptorSet: {error}");
            return ExitCode::FAILURE;
        }
    };
    // prost needs every file to resolve types, and writes one module per package; only the
    // contract's are kept: google.api (annotations) and the well-known types come from crates.
    let scratch = env::temp_dir().join(format!("llmgateway-codegen-{}", std::process::id()));
    if let Err(error) = fs::create_dir_all(&scratch) {
        eprintln!("{}: {error}", scratch.display());
        return ExitCode::FAILURE;
    }
    let result = tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .emit_rerun_if_changed(false)
        .out_dir(&scratch)
        .compile_fds(fds)
        .and_then(|()| {
            // The contract's packages: the API and the AdminService.
            for module in ["llmgateway.v1.rs", "llmgateway.admin.v1.rs"] {
                fs::copy(scratch.join(module), std::path::Path::new(out_dir).join(module))?;
            }
            Ok(())
        });
    let _ = fs::remove_dir_all(&scratch);
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("code generation failed: {error}");
            ExitCode::FAILURE
        }
    }
}
