//! From the command line to a [`Config`]: flags combined, defaulted and checked against each
//! other; every refusal is a usage error that names the flag, the value and what is accepted.

use clap::ValueEnum;

use super::{Args, ModeArg};
use crate::config::*;
use crate::duration::{format_millis, parse_millis};

fn invalid(message: String) -> ConfigError {
    ConfigError {
        conflict: false,
        message,
    }
}

fn conflict(message: String) -> ConfigError {
    ConfigError {
        conflict: true,
        message,
    }
}

const SOURCES: &str =
    "HOST PORT, --listen ADDR, --stdin, --file PATH, --watch DIR, --kafka BROKERS --topic T or --demo";

impl Config {
    /// Combines, defaults and checks the parsed flags.
    pub fn from_args(args: Args) -> Result<Config, ConfigError> {
        let source = source_of(&args)?;
        let batching = batching_of(&args)?;
        let mode = mode_of(&args, batching)?;
        let format = args.format;
        let top = match (args.top, format) {
            (Some(0), _) => None,
            (Some(n), _) => Some(n),
            (None, Format::Spark) => Some(10),
            (None, _) => None,
        };
        let emit = match (args.emit, mode) {
            (Some(emit), _) => emit,
            (None, Mode::Incremental) => Emit::Changes,
            (None, _) => Emit::All,
        };
        let cluster = cluster_of(&args)?;
        source_flags_fit(&args, &source)?;
        if args.fsync.is_some() && args.checkpoint.is_none() {
            return Err(conflict("--fsync needs --checkpoint DIR".into()));
        }

        let mut stop = StopAfter {
            batches: args.batches,
            duration: args.duration,
        };
        let ui = match &args.ui {
            Some(text) => Some(
                crate::ui::address_of(text)
                    .map_err(|why| invalid(format!("invalid value for '--ui <ADDR>': {why}")))?,
            ),
            None => None,
        };
        // With a live view, the demo runs until interrupted: there is something to watch.
        if source == Source::Demo && stop == StopAfter::default() && ui.is_none() {
            stop.batches = Some(DEMO_BATCHES);
        }
        Ok(Config {
            source,
            batching,
            mode,
            emit,
            format,
            top,
            output: args
                .output
                .as_deref()
                .map(|o| output_of(o, &args))
                .transpose()?,
            split: args.split,
            reconnect: args
                .reconnect
                .then(|| args.retry_delay.unwrap_or(DEFAULT_RETRY_DELAY)),
            max_connections: args.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
            lowercase: args.lowercase,
            stop_words: args.stop_words,
            workers: args.workers,
            stats: args.stats,
            ui,
            stop,
            fsync: args.fsync.unwrap_or(Fsync::Batch),
            checkpoint: args.checkpoint,
            cluster,
        })
    }
}

fn source_of(args: &Args) -> Result<Source, ConfigError> {
    let mut chosen = Vec::new();
    if let Some(host) = &args.host {
        // Java and URLs write IPv6 addresses in brackets; the resolver wants them bare.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.trim().is_empty() {
            return Err(invalid(format!(
                "invalid HOST '{host}': expected a host name or address (e.g. localhost, 127.0.0.1 or [::1])"
            )));
        }
        let Some(port) = &args.port else {
            return Err(invalid(format!(
                "missing PORT after HOST '{host}': connect with `netwc HOST PORT` (e.g. netwc localhost 9999), or choose another source: {SOURCES}"
            )));
        };
        let port = match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(invalid(format!(
                    "invalid PORT '{port}': expected a number from 1 to 65535"
                )))
            }
        };
        chosen.push((
            "HOST PORT",
            Source::Connect {
                host: host.to_string(),
                port,
            },
        ));
    }
    if let Some(addr) = &args.listen {
        chosen.push(("--listen", Source::Listen(addr.clone())));
    }
    if args.stdin {
        chosen.push(("--stdin", Source::Stdin));
    }
    if let Some(path) = &args.file {
        chosen.push(("--file", Source::File(path.clone())));
    }
    if let Some(dir) = &args.watch {
        chosen.push((
            "--watch",
            Source::Watch(WatchSource {
                dir: dir.clone(),
                from: args.from.unwrap_or(StartFrom::Latest),
            }),
        ));
    }
    if args.demo {
        chosen.push(("--demo", Source::Demo));
    }
    if let Some(brokers) = &args.kafka {
        chosen.push(("--kafka", kafka_of(args, brokers)?));
    }
    match chosen.len() {
        0 => Err(conflict(format!(
            "no source given: choose one of {SOURCES}"
        ))),
        1 => Ok(chosen.pop().expect("one source").1),
        _ => {
            let names: Vec<&str> = chosen.iter().map(|(name, _)| *name).collect();
            Err(conflict(format!(
                "{} cannot be used together: choose exactly one of {SOURCES}",
                names.join(" and ")
            )))
        }
    }
}

/// `-o PATH` or `-o kafka://BROKERS/TOPIC`.
fn output_of(output: &std::path::Path, args: &Args) -> Result<Output, ConfigError> {
    let Some(target) = output.to_str().and_then(|o| o.strip_prefix("kafka://")) else {
        return Ok(Output::File(output.to_path_buf()));
    };
    if !cfg!(feature = "kafka") {
        return Err(invalid(
            "-o kafka://BROKERS/TOPIC needs a netwc built with Kafka: `cargo build --release --features kafka`"
                .into(),
        ));
    }
    let accepted =
        "expected kafka://host:port[,host:port]/TOPIC (e.g. kafka://localhost:9092/counts)";
    let Some((brokers, topic)) = target.split_once('/') else {
        return Err(invalid(format!(
            "invalid value '{}' for '--output': {accepted}",
            output.display()
        )));
    };
    let brokers: Vec<String> = brokers
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(String::from)
        .collect();
    let topic_ok = !topic.is_empty()
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if brokers.is_empty() || brokers.iter().any(|b| !b.contains(':')) || !topic_ok {
        return Err(invalid(format!(
            "invalid value '{}' for '--output': {accepted}; a topic name is letters, digits, '.', '_' and '-'",
            output.display()
        )));
    }
    Ok(Output::Kafka(KafkaTarget {
        brokers,
        topic: topic.to_string(),
        connect_timeout: args.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
    }))
}

/// `--kafka BROKERS --topic T[,T] [--from earliest|latest]`.
fn kafka_of(args: &Args, brokers: &str) -> Result<Source, ConfigError> {
    if !cfg!(feature = "kafka") {
        return Err(invalid(
            "--kafka needs a netwc built with Kafka: `cargo build --release --features kafka`"
                .into(),
        ));
    }
    let list = |text: &str| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let brokers = list(brokers);
    if brokers.is_empty() || brokers.iter().any(|b| !b.contains(':')) {
        return Err(invalid(
            "invalid value for '--kafka <BROKERS>': expected host:port, comma-separated (e.g. localhost:9092)".into(),
        ));
    }
    let Some(topics) = args.topic.as_deref().map(list).filter(|t| !t.is_empty()) else {
        return Err(invalid(
            "--kafka needs --topic TOPIC (comma-separated for several)".into(),
        ));
    };
    if let Some((i, topic)) = topics
        .iter()
        .enumerate()
        .find(|(i, topic)| topics[..*i].contains(topic))
    {
        return Err(invalid(format!(
            "invalid value for '--topic': '{topic}' is named twice (as topic {} and {}); name each topic once, comma-separated",
            topics.iter().position(|t| t == topic).unwrap_or(0) + 1,
            i + 1
        )));
    }
    Ok(Source::Kafka(KafkaSource {
        brokers,
        topics,
        from: args.from.unwrap_or(StartFrom::Latest),
        connect_timeout: args.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        // With --every-process-reads each process reads its share of the partitions;
        // otherwise process 0 reads them all.
        share: match args.every_process_reads {
            true => (args.process, args.processes),
            false => (0, 1),
        },
    }))
}

/// Flags that only one kind of source uses are refused with the others.
fn source_flags_fit(args: &Args, source: &Source) -> Result<(), ConfigError> {
    let kafka = matches!(source, Source::Kafka(_));
    if args.topic.is_some() && !kafka {
        return Err(conflict(
            "--topic is for --kafka BROKERS; drop it or read Kafka".into(),
        ));
    }
    if args.from.is_some() && !kafka && !matches!(source, Source::Watch(_)) {
        return Err(conflict(
            "--from is for --kafka BROKERS and --watch DIR; drop it or read one of them".into(),
        ));
    }
    let connects = matches!(source, Source::Connect { .. });
    if args.reconnect && !connects {
        return Err(conflict(
            "--reconnect is for HOST PORT (a text server netwc connects to); producers reconnect to --listen by themselves".into(),
        ));
    }
    if args.retry_delay.is_some() && !args.reconnect {
        return Err(conflict("--retry-delay needs --reconnect".into()));
    }
    if args.max_connections.is_some() && !matches!(source, Source::Listen(_)) {
        return Err(conflict(
            "--max-connections is for --listen ADDR (producers that connect to netwc); drop it or listen".into(),
        ));
    }
    Ok(())
}

fn cluster_of(args: &Args) -> Result<ClusterConfig, ConfigError> {
    if args.process >= args.processes {
        return Err(invalid(format!(
            "invalid value '{}' for '--process <I>': with --processes {} the index is 0 to {}",
            args.process,
            args.processes,
            args.processes - 1
        )));
    }
    if args.processes == 1 && (args.hostfile.is_some() || args.every_process_reads) {
        return Err(conflict(
            "--hostfile and --every-process-reads are for clusters: add --processes N (and --process I)"
                .into(),
        ));
    }
    let kafka_output = args
        .output
        .as_deref()
        .and_then(|o| o.to_str())
        .is_some_and(|o| o.starts_with("kafka://"));
    if args.processes == 1
        && args.connect_timeout.is_some()
        && args.kafka.is_none()
        && !kafka_output
    {
        return Err(conflict(
            "--connect-timeout is for clusters and --kafka: add --processes N (and --process I)"
                .into(),
        ));
    }
    let last_default_port = DEFAULT_BASE_PORT as usize + args.processes - 1;
    if args.hostfile.is_none() && last_default_port > usize::from(u16::MAX) {
        return Err(invalid(format!(
            "invalid value '{}' for '--processes <N>': without --hostfile process i listens on port {}+i, so at most {} processes fit below port 65535; list the addresses in a --hostfile",
            args.processes,
            DEFAULT_BASE_PORT,
            usize::from(u16::MAX) - DEFAULT_BASE_PORT as usize + 1
        )));
    }
    Ok(ClusterConfig {
        processes: args.processes,
        process: args.process,
        hostfile: args.hostfile.clone(),
        every_process_reads: args.every_process_reads,
        connect_timeout: args.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
    })
}

fn batching_of(args: &Args) -> Result<Batching, ConfigError> {
    match (args.batch_lines, args.batch) {
        (Some(per_batch), _) => Ok(Batching::Lines { per_batch }),
        (None, Some(interval)) => Ok(Batching::Time {
            interval_ms: interval.as_millis() as u64,
        }),
        (None, None) => Ok(Batching::Time { interval_ms: 1_000 }),
    }
}

fn mode_of(args: &Args, batching: Batching) -> Result<Mode, ConfigError> {
    if args.mode != ModeArg::Window {
        for (flag, value) in [("--window", &args.window), ("--slide", &args.slide)] {
            if value.is_some() {
                let mode = args.mode.to_possible_value().expect("modes are not hidden");
                return Err(conflict(format!(
                    "{flag} is only used with --mode window (the mode is {}); add --mode window or drop {flag}",
                    mode.get_name()
                )));
            }
        }
    }
    match args.mode {
        ModeArg::Batch => Ok(Mode::Batch),
        ModeArg::Incremental => Ok(Mode::Incremental),
        ModeArg::Window => {
            let Some(window) = &args.window else {
                return Err(conflict(
                    "--mode window needs --window: its length, e.g. --window 30s (or with --batch-lines a number of batches, e.g. --window 3)".into(),
                ));
            };
            let length = batches_in("--window", window, batching)?;
            let slide = match &args.slide {
                Some(slide) => batches_in("--slide", slide, batching)?,
                None => 1,
            };
            if slide > length {
                return Err(conflict(format!(
                    "--slide {} is longer than --window {}: a window is reported at most once per its length",
                    args.slide.as_deref().unwrap_or_default(),
                    window
                )));
            }
            Ok(Mode::Window { length, slide })
        }
    }
}

/// Reads a window or slide length as a whole number of batches: a duration (time batches), or
/// a bare number, which counts batches with either kind of batching.
fn batches_in(flag: &str, text: &str, batching: Batching) -> Result<u64, ConfigError> {
    let bare = text.trim().bytes().all(|b| b.is_ascii_digit()) && !text.trim().is_empty();
    match batching {
        Batching::Time { .. } if bare => match text.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_WINDOW_BATCHES).contains(&n) => Ok(n),
            _ => Err(invalid(format!(
                "invalid value '{text}' for '{flag}': a bare number is a whole number of batches from 1 to {MAX_WINDOW_BATCHES} (or give a duration, e.g. {flag} 30s)"
            ))),
        },
        Batching::Lines { .. } => match text.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_WINDOW_BATCHES).contains(&n) => Ok(n),
            _ => Err(invalid(format!(
                "invalid value '{text}' for '{flag}': with --batch-lines, {flag} is a whole number of batches from 1 to {MAX_WINDOW_BATCHES}, e.g. {flag} 3"
            ))),
        },
        Batching::Time { interval_ms } => {
            let millis = parse_millis(text)
                .map_err(|why| invalid(format!("invalid value for '{flag}': {why}")))?;
            if !millis.is_multiple_of(interval_ms) {
                return Err(conflict(format!(
                    "{flag} {text} is not a whole multiple of the batch interval {}: window and slide must be multiples of --batch (e.g. {})",
                    format_millis(interval_ms),
                    format_millis(interval_ms * (millis / interval_ms).max(1)),
                )));
            }
            Ok(millis / interval_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(line: &str) -> Result<Config, ConfigError> {
        // A value clap refuses comes back as a usage error too, with clap's message.
        let args = Args::try_parse_from(std::iter::once("netwc").chain(line.split_whitespace()))
            .map_err(|e| invalid(e.to_string()))?;
        Config::from_args(args)
    }

    #[test]
    fn host_and_port_connect_with_spark_defaults() {
        let config = config("localhost 9999").unwrap();
        assert_eq!(
            config.source,
            Source::Connect {
                host: "localhost".into(),
                port: 9999
            }
        );
        assert_eq!(config.batching, Batching::Time { interval_ms: 1000 });
        assert_eq!(config.top, Some(10));
        assert_eq!(config.emit, Emit::All);
    }

    #[test]
    fn exactly_one_source() {
        assert!(config("").unwrap_err().message.contains("no source given"));
        let both = config("--stdin --demo").unwrap_err();
        assert!(both
            .message
            .contains("--stdin and --demo cannot be used together"));
        assert!(config("localhost")
            .unwrap_err()
            .message
            .contains("missing PORT"));
        assert!(config("localhost 99999")
            .unwrap_err()
            .message
            .contains("1 to 65535"));
    }

    #[test]
    fn defaults_follow_mode_and_format() {
        assert_eq!(
            config("--stdin --mode incremental").unwrap().emit,
            Emit::Changes
        );
        assert_eq!(config("--stdin --format tsv").unwrap().top, None);
        assert_eq!(config("--stdin --top 0").unwrap().top, None);
        assert_eq!(config("--demo").unwrap().stop.batches, Some(DEMO_BATCHES));
        assert_eq!(config("--demo --duration 2s").unwrap().stop.batches, None);
    }

    #[test]
    fn windows_are_multiples_of_the_batch() {
        let mode = config("--stdin --mode window --window 30s --slide 10s --batch 5s")
            .unwrap()
            .mode;
        assert_eq!(
            mode,
            Mode::Window {
                length: 6,
                slide: 2
            }
        );
        // A bare number counts batches with time batches too.
        let counted = config("--stdin --batch 5s --mode window --window 6 --slide 2").unwrap();
        assert_eq!(
            counted.mode,
            Mode::Window {
                length: 6,
                slide: 2
            }
        );
        let lines = config("--stdin --batch-lines 10 --mode window --window 3").unwrap();
        assert_eq!(
            lines.mode,
            Mode::Window {
                length: 3,
                slide: 1
            }
        );
        let err = config("--stdin --mode window --window 2500ms").unwrap_err();
        assert!(err
            .message
            .contains("not a whole multiple of the batch interval 1s"));
        let err = config("--stdin --mode window --window 2s --slide 3s").unwrap_err();
        assert!(err.message.contains("longer than --window"));
        let err = config("--stdin --window 2s").unwrap_err();
        assert!(err.message.contains("only used with --mode window"));
        let err = config("--stdin --mode window").unwrap_err();
        assert!(err.message.contains("needs --window"));
        let err = config("--stdin --batch-lines 5 --mode window --window 2s").unwrap_err();
        assert!(err.message.contains("whole number of batches"));
    }

    #[test]
    fn cluster_flags_are_checked() {
        let third = config("--stdin -n 3 -p 2").unwrap();
        assert_eq!(third.cluster.processes, 3);
        assert!(!third.cluster.reads_source());
        assert!(config("--stdin -n 2 -p 2")
            .unwrap_err()
            .message
            .contains("0 to 1"));
        assert!(config("--stdin -n 0")
            .unwrap_err()
            .message
            .contains("--processes"));
        assert!(config("--stdin --every-process-reads")
            .unwrap_err()
            .message
            .contains("for clusters"));
    }

    #[test]
    fn zero_is_refused_where_it_cannot_work() {
        assert!(config("--stdin -w 0")
            .unwrap_err()
            .message
            .contains("--workers"));
        assert!(config("--stdin --batches 0")
            .unwrap_err()
            .message
            .contains("--batches"));
        assert!(config("--stdin --batch-lines 0")
            .unwrap_err()
            .message
            .contains("--batch-lines"));
        assert!(config("--stdin --max-connections 0")
            .unwrap_err()
            .message
            .contains("--max-connections"));
    }

    #[test]
    fn options_that_would_do_nothing_are_refused() {
        assert!(config("--file x --max-connections 5")
            .unwrap_err()
            .message
            .contains("--max-connections is for --listen"));
        assert!(config("--stdin --connect-timeout 5s")
            .unwrap_err()
            .message
            .contains("--connect-timeout is for clusters"));
        assert!(config("--listen 127.0.0.1:0 --max-connections 5").is_ok());
        assert!(config("--stdin -n 2 --connect-timeout 5s").is_ok());
    }

    #[test]
    fn absurd_sizes_are_refused_with_the_accepted_range() {
        let window = config("--stdin --batch-lines 1 --mode window --window 18446744073709551615")
            .unwrap_err();
        assert!(window.message.contains("from 1 to 1000000000"), "{window}");
        let batch = config("--stdin --batch 5124095577h").unwrap_err();
        assert!(batch.message.contains("8760h"), "{batch}");
        let workers = config("--stdin -w 4294967296").unwrap_err();
        assert!(workers.message.contains("from 1 to 1024"), "{workers}");
        let ports = config("--stdin -n 70000 -p 0").unwrap_err();
        assert!(ports.message.contains("1 to 65535"), "{ports}");
        let ports = config("--stdin -n 64000 -p 0").unwrap_err();
        assert!(ports.message.contains("at most 63435 processes"), "{ports}");
    }

    #[test]
    fn hosts_in_brackets_and_empty_hosts() {
        assert_eq!(
            config("[::1] 9999").unwrap().source,
            Source::Connect {
                host: "::1".into(),
                port: 9999
            }
        );
    }
}
