//! End-to-end runs of the built `promlite-tool` for the commands that
//! complete upstream's set: `query analyze` against a running promlite,
//! `tsdb bench write` on a generated series file, `tsdb analyze --extended`
//! on a block written by promlite's block writer, `check metrics
//! --extended` with and without linting.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use promlite::model::Labels;
use promlite::tsdb::block::{write_block, ChunkData};

use crate::common::{text, tool, tool_with_stdin, xor_chunk, Promlite};

const HEADER: &str = "Bucket stats for each histogram series over time
------------------------------------------------
First the min, avg, and max number of populated buckets, followed by the total
number of buckets (only if different from the max number of populated buckets
which is typical for classic but not native histograms).

";

#[test]
fn query_analyze_reports_bucket_usage_of_a_running_promlite() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // Three scrapes a minute apart, ending a minute before the query time.
    let end_ms = now_ms - now_ms % 60_000;
    let ts = [end_ms - 240_000, end_ms - 180_000, end_ms - 120_000];
    // h (job a): le=0.5/1/+Inf cumulative counts per scrape; the buckets
    // holding observations: scrape 1 none, scrape 2 two, scrape 3 three.
    let a = [
        ("0.5", [0.0, 1.0, 2.0]),
        ("1", [0.0, 1.0, 4.0]),
        ("+Inf", [0.0, 3.0, 7.0]),
    ];
    // h (job b): all observations in the first bucket.
    let b = [
        ("0.5", [1.0, 2.0, 3.0]),
        ("1", [1.0, 2.0, 3.0]),
        ("+Inf", [1.0, 2.0, 3.0]),
    ];
    let mut chunks = Vec::new();
    for (job, buckets) in [("a", a), ("b", b)] {
        for (le, counts) in buckets {
            let samples: Vec<(i64, f64)> = ts.iter().copied().zip(counts).collect();
            let labels = Labels::from_pairs(&[("__name__", "h_bucket"), ("job", job), ("le", le)]);
            chunks.push((labels, xor_chunk(&samples)));
        }
    }
    // A series that is not a bucket is left out.
    let sum = xor_chunk(&[(ts[0], 1.0), (ts[1], 2.0)]);
    chunks.push((
        Labels::from_pairs(&[("__name__", "h_sum"), ("job", "a")]),
        sum,
    ));
    let series = chunks
        .iter()
        .map(|(l, data)| {
            (
                l.clone(),
                vec![ChunkData {
                    min_t: ts[0],
                    max_t: ts[2],
                    data,
                }],
            )
        })
        .collect();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    write_block(&data, series, ts[0], ts[2] + 1).unwrap_or_else(|e| panic!("{e}"));
    let server = Promlite::start_in(dir, "global:\n  scrape_interval: 1h\n", &[]);
    let url = format!("http://127.0.0.1:{}", server.port);
    let time = (end_ms / 1000).to_string();

    let out = tool(
        &[
            "query",
            "analyze",
            &format!("--server={url}"),
            "--type=histogram",
            "--duration=10m",
            &format!("--time={time}"),
            "--match={__name__=~\"h_.*\"}",
        ],
        server.dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "{HEADER}- h_bucket{{job=\"a\"}} (classic): 0/1.667/3\n\
             - h_bucket{{job=\"b\"}} (classic): 1/1.000/1/3\n\
             \nAggregated bucket stats\n-----------------------\n\
             Each line shows min/avg/max over the series above.\n\
             \nClassic histogram series (2 in total):\n\
             - min populated: 0/0.500/1\n- avg populated: 1/1.000/1\n\
             - max populated: 1/2.000/3\n- total: 3/3.000/3\n"
        )
    );

    // Nothing matches: upstream's header and footer and no aggregate.
    let out = tool(
        &[
            "query",
            "analyze",
            &format!("--server={url}"),
            "--type=histogram",
            &format!("--time={time}"),
            "--match=nothing_bucket",
        ],
        server.dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "{HEADER}\nAggregated bucket stats\n-----------------------\n\
             Each line shows min/avg/max over the series above.\n"
        )
    );

    // A bad selector is the server's error, exit 1.
    let out = tool(
        &[
            "query",
            "analyze",
            &format!("--server={url}"),
            "--type=histogram",
            "--match=h{",
        ],
        server.dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("bad_data: "),
        "{}",
        text(&out.stderr)
    );

    let out = tool(
        &[
            "query",
            "analyze",
            &format!("--server={url}"),
            "--type=summary",
            "--match=x",
        ],
        server.dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "analyze type is summary, must be 'histogram'\n"
    );

    let out = tool(
        &[
            "query",
            "analyze",
            &format!("--server={url}"),
            "--type=histogram",
            "--duration=1d",
            "--match=x",
        ],
        server.dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "promlite-tool: error: time: unknown unit \"d\" in duration \"1d\", try --help\n"
    );

    let out = tool(
        &["query", "analyze", "--type=histogram", "--match=x"],
        server.dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "promlite-tool: error: required flag --server not provided, try --help\n"
    );
}

#[test]
fn tsdb_bench_write_ingests_a_series_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let lines: String = (0..30)
        .map(|i| format!("{{\"__name__\":\"m{}\",\"instance\":\"h{i}\"}}\n", i % 4))
        .collect();
    std::fs::write(dir.path().join("series.json"), lines).unwrap_or_else(|e| panic!("{e}"));
    let out = tool(
        &[
            "tsdb",
            "bench",
            "write",
            "--out=bench",
            "--metrics=20",
            "--scrapes=100",
            "series.json",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let shape: Vec<String> = stdout
        .lines()
        .map(|l| match l.split_once(" duration=") {
            Some((head, _)) => head.to_string(),
            None => l.split(": ").next().unwrap_or(l).to_string(),
        })
        .collect();
    assert_eq!(
        shape,
        [
            ">> start stage=readData",
            ">> completed stage=readData",
            ">> start stage=ingestScrapes",
            "ingestion completed",
            ">> completed stage=ingestScrapes",
            " > total samples",
            " > samples/sec",
            ">> start stage=stopStorage",
            ">> completed stage=stopStorage",
        ]
    );
    assert!(stdout.contains(" > total samples: 2000\n"), "{stdout}");

    // What it wrote is a promlite data dir holding every sample.
    let out = tool(&["tsdb", "dump", "--match=m1", "bench/storage"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dump = text(&out.stdout);
    // m1 has instances h1, h5, h9, h13, h17 among the first 20 lines.
    assert_eq!(dump.lines().count(), 5 * 100, "{dump}");
    assert!(
        dump.starts_with("{__name__=\"m1\", instance=\"h1\"} 1.23457789e+08 30000\n"),
        "{dump}"
    );

    let out = tool(&["tsdb", "bench", "write", "--out=bench2"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .starts_with("open ../../tsdb/testdata/20kseries.json: no such file or directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn tsdb_analyze_extended_adds_the_compaction_analysis() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let full: Vec<(i64, f64)> = (0..120).map(|i| (i * 15_000, i as f64)).collect();
    let half: Vec<(i64, f64)> = (0..60).map(|i| (i * 15_000, 1.0)).collect();
    let (a, b, c) = (xor_chunk(&full), xor_chunk(&full), xor_chunk(&half));
    fn chunk(data: &[u8], n: i64) -> ChunkData<'_> {
        ChunkData {
            min_t: 0,
            max_t: (n - 1) * 15_000,
            data,
        }
    }
    write_block(
        dir.path(),
        vec![
            (
                Labels::from_pairs(&[("__name__", "a"), ("i", "1")]),
                vec![chunk(&a, 120)],
            ),
            (
                Labels::from_pairs(&[("__name__", "a"), ("i", "2")]),
                vec![chunk(&b, 120)],
            ),
            (
                Labels::from_pairs(&[("__name__", "b")]),
                vec![chunk(&c, 60)],
            ),
        ],
        0,
        120 * 15_000,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let plain = tool(&["tsdb", "analyze", "."], dir.path());
    let out = tool(&["tsdb", "analyze", "--extended", "."], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ext = text(&out.stdout);
    let rest = ext
        .strip_prefix(text(&plain.stdout).as_str())
        .unwrap_or_else(|| panic!("extended output does not extend the plain one:\n{ext}"));
    let samples = format!(
        "samples per float chunk (min/avg/max): 60/100/120\n\
         [ 61,  70]: 1 {}\n[ 71,  80]: 0 \n[ 81,  90]: 0 \n[ 91, 100]: 0 \n\
         [101, 110]: 0 \n[111, 120]: 0 \n[121, 130]: 2 {}\n[131, 140]: 0 \n\n",
        "#".repeat(33),
        "#".repeat(66)
    );
    assert!(
        rest.starts_with(&format!(
            "\nCompaction analysis:\n\n{samples}bytes per float chunk (min/avg/max): "
        )),
        "{rest}"
    );
    assert!(
        rest.ends_with(
            "samples per histogram chunk: N/A\n\nbytes per histogram chunk: N/A\n\nbuckets per histogram chunk: N/A\n\n"
        ),
        "{rest}"
    );

    // With a selector only the matching series' chunks count.
    let out = tool(
        &["tsdb", "analyze", "--extended", "--match=b", "."],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .contains("samples per float chunk (min/avg/max): 60/60/60\n[61, 70]: 1 ####"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_metrics_extended_prints_the_table_even_with_lint_problems() {
    let input = "# TYPE requests counter\nrequests 1\n\
                 # HELP h H.\n# TYPE h histogram\n\
                 h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n";
    let table = "Metric      Cardinality    Percentage    \n\
                 h           4              80.00%        \n\
                 requests    1              20.00%        \n\
                 Total       5              100%          \n";
    let out = tool_with_stdin(&["check", "metrics", "--extended"], Path::new("."), input);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "requests counter metrics should have \"_total\" suffix\nrequests no help text\n"
    );
    assert_eq!(text(&out.stdout), table);

    let out = tool_with_stdin(
        &["check", "metrics", "--extended", "--lint=none"],
        Path::new("."),
        input,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout), table);

    let out = tool_with_stdin(
        &["check", "metrics", "--extended", "--lint=none"],
        Path::new("."),
        "x{a=1} 1\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error while parsing text to metric families: "),
        "{}",
        text(&out.stderr)
    );
}
