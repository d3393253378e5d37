//! The `lockstep` binary: parse the command line and hand over to the library.

/// Arrow and Parquet allocate and free large buffers for every batch; glibc's
/// allocator returns them to the kernel and faults them in zeroed again, which
/// cost the diff over a tenth of its time. mimalloc keeps and reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    lockstep::alloc::tune();
    lockstep::cli::main()
}
