# Copyright Switchboard authors.
"""bench/report_lib.py on small hand-made runs of echo_models_bench.

The runs are what `echo_models_bench --benchmark_format=json` prints, cut
down to the fields the report reads: two designs the report knows, one it
does not, three loads, a skipped case and a failed one.
"""

import unittest

from bench import report_lib

CONTEXT = {
    "echo_models_window": "2s",
    "echo_models_designs": "reference=reference loop;reactor_auto=reactor, dispatch=auto;"
                           "uring=io_uring <new>",
    "echo_models_loads": "1x1,10x1,10x16",
}


def case(design, conns, depth, msgs=None, error=None):
    """One benchmark entry as Google Benchmark writes it."""
    entry = {"name": f"echo/{design}/connections:{conns}/depth:{depth}"
                     "/iterations:1/manual_time"}
    if error is not None:
        entry.update(error_occurred=True, error_message=error)
    else:
        entry.update(msgs_per_s=msgs, bytes_per_s=msgs * 1024, p50_us=50.0, p99_us=99.0,
                     p999_us=1500.0, server_cpu_us_per_msg=2.0, ref_msgs_ratio=0.5)
    return entry


def run(scale, context=CONTEXT):
    """A run in which every figure is `scale` times the first run's."""
    return {
        "context": dict(context),
        "benchmarks": [
            case("reference", 1, 1, 1000 * scale),
            case("reactor_auto", 1, 1, 2000 * scale),
            case("uring", 1, 1, 3000 * scale),
            case("reference", 10, 1, 10000 * scale),
            case("reactor_auto", 10, 1, error="load errors: 3"),
            case("uring", 10, 1, error="skipped: no io_uring here"),
            case("reference", 10, 16, 20000 * scale),
            # Not an echo case: ignored.
            {"name": "BM_Other", "msgs_per_s": 1},
        ],
    }


class DescribedTest(unittest.TestCase):

    def test_reads_designs_and_loads_in_order_with_labels_that_contain_equals(self):
        designs, loads = report_lib.described([run(1), run(2)])
        self.assertEqual(designs, [("reference", "reference loop"),
                                   ("reactor_auto", "reactor, dispatch=auto"),
                                   ("uring", "io_uring <new>")])
        self.assertEqual(loads, [(1, 1), (10, 1), (10, 16)])

    def test_a_run_without_the_keys_is_described_by_the_legacy_context(self):
        old = run(1, context={"echo_models_window": "2s"})
        old["benchmarks"] = [case("blocking", 1000, 1, 5.0), case("iterative", 1, 1, 6.0)]
        designs, loads = report_lib.described([old])
        self.assertEqual([name for name, _ in designs],
                         ["reference", "reactor_auto", "reactor_pool", "blocking", "iterative"])
        self.assertEqual(loads, [(1, 1), (10, 1), (100, 1), (1000, 1), (10, 16)])

    def test_a_design_the_context_does_not_describe_fails(self):
        stray = run(1)
        stray["benchmarks"].append(case("threads", 1, 1, 1.0))
        with self.assertRaisesRegex(report_lib.ReportError, "design 'threads'"):
            report_lib.described([run(1), stray])

    def test_a_load_the_context_does_not_describe_fails(self):
        stray = run(1)
        stray["benchmarks"].append(case("reference", 100, 1, 1.0))
        with self.assertRaisesRegex(report_lib.ReportError, "load 100x1"):
            report_lib.described([stray])

    def test_runs_that_describe_different_cases_fail(self):
        other = run(1, context=dict(CONTEXT, echo_models_loads="1x1,10x1,10x16,100x1"))
        with self.assertRaisesRegex(report_lib.ReportError, "run 2"):
            report_lib.described([run(1), other])

    def test_a_context_with_only_one_key_fails(self):
        half = run(1, context={"echo_models_loads": "1x1"})
        with self.assertRaisesRegex(report_lib.ReportError, "only one"):
            report_lib.described([half])

    def test_malformed_descriptions_fail(self):
        with self.assertRaises(report_lib.ReportError):
            report_lib.parse_designs("reference")
        with self.assertRaises(report_lib.ReportError):
            report_lib.parse_loads("10by1")


class MediansTest(unittest.TestCase):

    def test_parse_run_tells_figures_skips_and_errors_apart(self):
        cases = report_lib.parse_run(run(1))
        self.assertEqual(len(cases), 7)
        self.assertEqual(cases[("reference", 1, 1)]["figures"]["msgs_per_s"], 1000)
        self.assertEqual(cases[("reactor_auto", 10, 1)], {"error": "load errors: 3"})
        self.assertEqual(cases[("uring", 10, 1)], {"skipped": "skipped: no io_uring here"})

    def test_summarize_takes_the_median_over_the_runs(self):
        runs = [run(1), run(3), run(2)]
        designs, loads = report_lib.described(runs)
        summary = report_lib.summarize(runs, designs, loads)
        reference = summary[("reference", 1, 1)]
        self.assertEqual(reference["median"]["msgs_per_s"], 2000)
        self.assertEqual(reference["msgs_range"], (1000, 3000))
        self.assertEqual((reference["runs"], reference["ok"]), (3, 3))
        failed = summary[("reactor_auto", 10, 1)]
        self.assertEqual(failed["median"], {})
        self.assertEqual(failed["errors"], ["load errors: 3"] * 3)
        # A case no run has is still in the summary, as not run.
        self.assertEqual(summary[("uring", 10, 16)]["runs"], 0)


class FormattingTest(unittest.TestCase):

    def test_numbers(self):
        self.assertEqual(report_lib.fmt_rate(2_500_000), "2.50 M")
        self.assertEqual(report_lib.fmt_rate(12_345), "12.3 k")
        self.assertEqual(report_lib.fmt_rate(999), "999")
        self.assertEqual(report_lib.fmt_us(1500), "1.50 ms")
        self.assertEqual(report_lib.fmt_us(99), "99 µs")
        self.assertEqual(report_lib.fmt_ratio(1.234), "1.23×")
        self.assertEqual(report_lib.fmt_util(None), "-")
        self.assertEqual(report_lib.load_name(10, 16), "10 × 16 in flight")
        self.assertEqual(report_lib.load_name(100, 1), "100")
        self.assertEqual(report_lib.nice_step(3.1e4), 5e4)
        self.assertEqual(report_lib.tick_label(2.5e6), "2.5M")
        self.assertEqual(report_lib.escape("a<b&c>"), "a&lt;b&amp;c&gt;")

    def test_markdown_has_a_row_per_described_design_in_order(self):
        runs = [run(1), run(2)]
        designs, loads = report_lib.described(runs)
        info = {"cpu": "test CPU", "logical_cpus": 2, "nproc": 2, "virtual": False,
                "kernel": "Linux", "os": "Debian"}
        text = report_lib.markdown(report_lib.summarize(runs, designs, loads), runs, info,
                                   "echo_models_bench", designs, loads)
        self.assertIn("| design | 1 | 10 | 10 × 16 in flight |", text)
        rows = [line for line in text.splitlines()
                if line.startswith(("| reference loop |", "| reactor, dispatch=auto |",
                                    "| io_uring <new> |"))]
        self.assertEqual(rows, [
            "| reference loop | 1.5 k | 15.0 k | 30.0 k |",
            "| reactor, dispatch=auto | 3.0 k | failed (errors) | - |",
            "| io_uring <new> | 4.5 k | skipped | - |",
        ])
        self.assertIn("reactor, dispatch=auto at 10 failed in 2 of 2 run(s)", text)

    def test_svg_draws_known_designs_in_their_colour_and_new_ones_from_the_palette(self):
        runs = [run(1)]
        designs, loads = report_lib.described(runs)
        svg = report_lib.svg_chart(report_lib.summarize(runs, designs, loads), "sub <1>",
                                   designs, loads)
        self.assertTrue(svg.startswith("<svg ") and svg.endswith("</svg>\n"))
        self.assertIn("sub &lt;1&gt;", svg)
        self.assertIn('stroke="#000000"', svg)  # reference, its own colour
        self.assertIn(">reactor, auto (1 conn.) (✕: failed at 10)</text>", svg)
        self.assertIn(f'fill="{report_lib.FALLBACK_COLOURS[0]}"', svg)
        self.assertIn(">io_uring &lt;new&gt; (1 conn.)</text>", svg)


if __name__ == "__main__":
    unittest.main()
