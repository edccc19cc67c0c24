//! Offline answer time: `cargo run --release -p chat --example offline_bench`.
//!
//! Answers every question of the offline evaluation set (`src/offline/eval.tsv`) many times
//! and prints the median and 95th percentile of one `compose_answer` call. The FAQ index is
//! built once before timing, as it is on the first offline answer of an instance.

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

const EVAL_TSV: &str = include_str!("../src/offline/eval.tsv");
const ROUNDS: usize = 200;

fn main() {
    let questions: Vec<&str> = EVAL_TSV
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split('\t').nth(1))
        .collect();
    let started = Instant::now();
    black_box(chat::offline::compose_answer("batterigaranti", &[]));
    let first = started.elapsed();
    println!("index built and first answer: {first:?}");

    let mut times: Vec<Duration> = Vec::with_capacity(questions.len() * ROUNDS);
    for _ in 0..ROUNDS {
        for question in &questions {
            let start = Instant::now();
            black_box(chat::offline::compose_answer(black_box(question), &[]));
            times.push(start.elapsed());
        }
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{} answers: p50 {:?}, p95 {:?}, max {:?}",
        times.len(),
        at(0.5),
        at(0.95),
        at(1.0)
    );
    // For scripts/bench.sh: the same figures as key=value pairs.
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "answers={} p50_us={:.2} p95_us={:.2} first_ms={:.2}",
        times.len(),
        us(at(0.5)),
        us(at(0.95)),
        first.as_secs_f64() * 1e3
    );
}
