//! `mkimage`: builds and inspects BareFlow disk images.
//!
//! ```text
//! mkimage build --stage1 build/stage1.bin --stage2 build/stage2.bin --kernel build/kernel.elf \
//!     [--cmdline "..."] [--pattern-mib N] [--module NAME=PATH]... [--fat-mib 32] [--keep-fat] \
//!     --output build/bareflow.img
//! mkimage info build/bareflow.img
//! mkimage fs ls build/bareflow.img [/DIR]
//! mkimage fs cat build/bareflow.img /BOOT.LOG
//! mkimage fs put build/bareflow.img /CONFIG.TXT local-file     (`-` reads stdin)
//! mkimage fs rm build/bareflow.img /CONFIG.TXT
//! mkimage snapshot ls build/bareflow.img
//! mkimage snapshot show build/bareflow.img /SNAPSHOT/fib/B0000002.SNP
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use mkimage::image::{DEFAULT_FAT_MIB, ImageInputs, MAX_FAT_MIB, MIN_FAT_MIB, assemble};
use mkimage::inspect::inspect_image;
use mkimage::keep_fat::keep_partition_of;
use mkimage::payload::{ModuleInput, pattern_module};

/// Builds and inspects BareFlow disk images (MBR, stage2, FLUD header, kernel payload,
/// FAT16 partition).
#[derive(Parser, Debug)]
#[command(name = "mkimage", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a bootable disk image from stage1, stage2 and the kernel ELF.
    Build(BuildArgs),
    /// Decode an image, verify its payload checksum and describe its partitions.
    Info {
        /// The disk image.
        image: PathBuf,
    },
    /// List, read, write or remove files on the image's FAT16 partition.
    #[command(subcommand)]
    Fs(FsCommand),
    /// List or describe the snapshots the kernel wrote under /SNAPSHOT.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Map the pages the kernel's last bare-metal run touched (/DEADCODE.BIN) back to
    /// its components and symbols (docs/shrink.md).
    Deadcode {
        /// The disk image the kernel ran from.
        image: PathBuf,
        /// The kernel ELF of that run (`build/kernel.elf`).
        kernel: PathBuf,
        /// The linker map of that kernel (default: the ELF's path with `.map`).
        #[arg(long)]
        map: Option<PathBuf>,
        /// Report these symbols page by page (an exact name, or the first containing it).
        #[arg(long, value_delimiter = ',')]
        symbols: Vec<String>,
    },
    /// Where the kernel's bytes are: per component and, within the largest LLVM
    /// libraries, per object file (docs/llvm-size.md), as Markdown and METRIC lines.
    SizeReport {
        /// The kernel ELF (`build/kernel.elf`).
        kernel: PathBuf,
        /// Its linker map (default: the ELF's path with `.map`).
        #[arg(long)]
        map: Option<PathBuf>,
        /// The same kernel built with `LLVM=none` (`build/kernel-nollvm.elf`): adds
        /// `llvm.image_bytes` and `llvm.text_bytes`.
        #[arg(long)]
        without: Option<PathBuf>,
        /// How many of the largest LLVM libraries to break down by object file.
        #[arg(long, default_value_t = 4)]
        libraries: usize,
        /// How many object files to list per library.
        #[arg(long, default_value_t = 12)]
        objects: usize,
    },
}

#[derive(Subcommand, Debug)]
enum SnapshotCommand {
    /// One line per file of every app's lineage: path, size, and whether it decodes.
    Ls {
        /// The disk image.
        image: PathBuf,
    },
    /// Describe one snapshot file (fails if it is damaged).
    Show {
        /// The disk image.
        image: PathBuf,
        /// The snapshot file on the partition (`/SNAPSHOT/<app>/B0000001.SNP`).
        path: String,
    },
}

#[derive(Subcommand, Debug)]
enum FsCommand {
    /// List a directory (default `/`): one line per entry, `d` or `-`, size, name.
    Ls {
        /// The disk image.
        image: PathBuf,
        /// Directory on the partition.
        #[arg(default_value = "/")]
        path: String,
    },
    /// Print a file to stdout.
    Cat {
        /// The disk image.
        image: PathBuf,
        /// File on the partition.
        path: String,
    },
    /// Write a local file (or stdin for `-`) to the partition, replacing it.
    Put {
        /// The disk image.
        image: PathBuf,
        /// File on the partition (missing directories are created).
        path: String,
        /// The local file, or `-` for stdin.
        file: PathBuf,
    },
    /// Remove a file or an empty directory.
    Rm {
        /// The disk image.
        image: PathBuf,
        /// File or directory on the partition.
        path: String,
    },
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// stage1: 512-byte MBR ending 0x55 0xAA, bytes 440–509 zero.
    #[arg(long)]
    stage1: PathBuf,
    /// stage2: at most 4096 bytes, `BFS2` at bytes 2–5.
    #[arg(long)]
    stage2: PathBuf,
    /// The kernel: static, non-PIE x86-64 ELF linked at 0x100000.
    #[arg(long)]
    kernel: PathBuf,
    /// Kernel command line (at most 255 ASCII characters).
    #[arg(long, default_value = "")]
    cmdline: String,
    /// Add the boot-test pattern module (`pattern`) of this many MiB (0: none).
    #[arg(long, default_value_t = 0, value_name = "MIB", value_parser = clap::value_parser!(u32).range(0..4096))]
    pattern_mib: u32,
    /// Add a file as a module named NAME (repeatable; at most 6 modules in all).
    #[arg(long = "module", value_name = "NAME=PATH", value_parser = parse_module_arg)]
    modules: Vec<(String, PathBuf)>,
    /// Size of the FAT16 data partition in MiB.
    #[arg(long, default_value_t = DEFAULT_FAT_MIB, value_name = "MIB", value_parser = clap::value_parser!(u32).range(MIN_FAT_MIB as i64..=MAX_FAT_MIB as i64))]
    fat_mib: u32,
    /// Keep the FAT16 partition (boot log, snapshots) of the image already at --output
    /// when it has the new partition's size; otherwise format a fresh one and say why.
    #[arg(long)]
    keep_fat: bool,
    /// Where to write the image.
    #[arg(long, short)]
    output: PathBuf,
}

/// Splits `NAME=PATH`.
fn parse_module_arg(arg: &str) -> Result<(String, PathBuf), String> {
    match arg.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok((name.to_string(), PathBuf::from(path))),
        _ => Err(format!("expected NAME=PATH, got `{arg}`")),
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

fn build(args: &BuildArgs) -> Result<()> {
    let mut modules = Vec::new();
    if args.pattern_mib > 0 {
        modules.push(pattern_module(args.pattern_mib));
    }
    for (name, path) in &args.modules {
        modules.push(ModuleInput { name: name.clone(), bytes: read(path, &format!("module `{name}`"))? });
    }
    let inputs = ImageInputs {
        stage1: read(&args.stage1, "stage1")?,
        stage2: read(&args.stage2, "stage2")?,
        kernel_elf: read(&args.kernel, "kernel")?,
        cmdline: args.cmdline.clone(),
        modules,
        fat_mib: args.fat_mib,
    };
    let mut image = assemble(&inputs).with_context(|| format!("cannot build {}", args.output.display()))?;
    // Read the old partition before the new image replaces the file.
    let kept = args.keep_fat.then(|| keep_partition_of(&mut image, &args.output));
    image.write_file(&args.output)?;
    if let Some(kept) = kept {
        println!("mkimage: {kept}");
    }
    print!("{}", image.summary(&args.output));
    Ok(())
}

fn info(path: &Path) -> Result<bool> {
    let report = inspect_image(path).with_context(|| format!("{} is not a good BareFlow image", path.display()))?;
    print!("{report}");
    Ok(report.is_ok())
}

fn fs_command(command: &FsCommand) -> Result<()> {
    use mkimage::files;
    use std::io::{Read, Write};
    match command {
        FsCommand::Ls { image, path } => {
            for e in files::list(image, path)? {
                println!("{} {:>10} {}", if e.is_dir { 'd' } else { '-' }, e.size, e.name);
            }
        }
        FsCommand::Cat { image, path } => std::io::stdout().write_all(&files::cat(image, path)?)?,
        FsCommand::Put { image, path, file } => {
            let bytes = if file.as_os_str() == "-" {
                let mut b = Vec::new();
                std::io::stdin().read_to_end(&mut b)?;
                b
            } else {
                read(file, "file")?
            };
            files::put(image, path, &bytes)?;
        }
        FsCommand::Rm { image, path } => files::remove(image, path)?,
    }
    Ok(())
}

fn snapshot_command(command: &SnapshotCommand) -> Result<()> {
    use mkimage::snapshots;
    let lines = match command {
        SnapshotCommand::Ls { image } => snapshots::listing_lines(&snapshots::list(image)?),
        SnapshotCommand::Show { image, path } => snapshots::show(image, path)?,
    };
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Build(args) => build(args).map(|()| true),
        Command::Info { image } => info(image),
        Command::Fs(command) => fs_command(command).map(|()| true),
        Command::Snapshot(command) => snapshot_command(command).map(|()| true),
        Command::Deadcode { image, kernel, map, symbols } => {
            let map = map.clone().unwrap_or_else(|| kernel.with_extension("map"));
            mkimage::deadcode::report(image, kernel, &map, symbols).map(|lines| {
                for line in lines {
                    println!("{line}");
                }
                true
            })
        }
        Command::SizeReport { kernel, map, without, libraries, objects } => {
            let map = map.clone().unwrap_or_else(|| kernel.with_extension("map"));
            mkimage::size_report::report(kernel, &map, without.as_deref(), *libraries, *objects).map(|text| {
                print!("{text}");
                true
            })
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("mkimage: the image has problems (see above)");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("mkimage: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn fs_command_lines_parse() {
        let cli = Cli::try_parse_from(["mkimage", "fs", "put", "img", "/A.TXT", "-"]).unwrap();
        assert!(matches!(cli.command, Command::Fs(FsCommand::Put { .. })));
        let cli = Cli::try_parse_from(["mkimage", "fs", "ls", "img"]).unwrap();
        let Command::Fs(FsCommand::Ls { path, .. }) = cli.command else { panic!("not ls") };
        assert_eq!(path, "/");
        assert!(Cli::try_parse_from(["mkimage", "fs", "cat", "img"]).is_err());
    }

    #[test]
    fn snapshot_command_lines_parse() {
        let cli = Cli::try_parse_from(["mkimage", "snapshot", "ls", "img"]).unwrap();
        let Command::Snapshot(SnapshotCommand::Ls { image }) = cli.command else { panic!("not ls") };
        assert_eq!(image, PathBuf::from("img"));
        let cli = Cli::try_parse_from(["mkimage", "snapshot", "show", "img", "/SNAPSHOT/fib/B0000001.SNP"]).unwrap();
        let Command::Snapshot(SnapshotCommand::Show { path, .. }) = cli.command else { panic!("not show") };
        assert_eq!(path, "/SNAPSHOT/fib/B0000001.SNP");
        assert!(Cli::try_parse_from(["mkimage", "snapshot", "show", "img"]).is_err());
        assert!(Cli::try_parse_from(["mkimage", "snapshot", "ls"]).is_err());
    }

    #[test]
    fn module_args_parse() {
        assert_eq!(parse_module_arg("app=build/app.bc").unwrap(), ("app".into(), PathBuf::from("build/app.bc")));
        assert_eq!(parse_module_arg("a=b=c").unwrap(), ("a".into(), PathBuf::from("b=c")));
        assert!(parse_module_arg("noequals").is_err());
        assert!(parse_module_arg("=path").is_err());
        assert!(parse_module_arg("name=").is_err());
    }

    /// `mkimage build` with the three inputs, `extra`, and an output.
    fn parse_build(extra: &[&str]) -> BuildArgs {
        let mut argv = vec!["mkimage", "build", "--stage1", "s1", "--stage2", "s2", "--kernel", "k"];
        argv.extend_from_slice(extra);
        argv.extend_from_slice(&["--output", "o"]);
        let Command::Build(args) = Cli::try_parse_from(argv).unwrap().command else { panic!("not build") };
        args
    }

    #[test]
    fn build_command_line_parses() {
        let args = parse_build(&["--cmdline", "", "--pattern-mib", "60", "--module", "x=y", "--module", "z=w"]);
        assert_eq!(args.pattern_mib, 60);
        assert_eq!(args.fat_mib, 32);
        assert_eq!(args.modules.len(), 2);
        assert!(!args.keep_fat);
        assert!(parse_build(&["--keep-fat"]).keep_fat);
        assert!(Cli::try_parse_from(["mkimage", "build", "--stage1", "s1"]).is_err());
    }
}
