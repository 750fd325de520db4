"""`oraclenet gpu bench`'s report, from a run's measurements (the measuring needs a GPU: on a
CPU-only machine the command exits 0 without one, tests/gpu/test_train_cli.py)."""

from oraclenet.gpu.bench import markdown, plot, targets


def result(cublas_4096=100.0):
    rows = []
    for dtype in ("float32", "float64"):
        for shape, mnk in (("course 800x1000x784", (800, 1000, 784)),
                           ("square 4096", (4096, 4096, 4096))):
            rows.append(dict(shape=shape, M=mnk[0], N=mnk[1], K=mnk[2], dtype=dtype,
                             naive=10.0, shared=35.0 if dtype == "float32" else 29.0,
                             regblock=72.0, cublas=cublas_4096 if "4096" in shape else 90.0))
    return dict(device="NVIDIA H100 80GB HBM3", date="2026-11-24", repeats=20, gemm=rows,
                gpu_images_per_second={"H 1000, B 800": 2.1e6},
                oracle_cores=2, oracle_images_per_second={"H 1000, B 800": 1.0e5})


def test_targets_are_the_ratios_the_issue_names():
    found = {t["name"]: t for t in targets(result())}
    assert found["regblock / cuBLAS SGEMM, square 4096"]["value"] == 0.72
    assert found["regblock / cuBLAS SGEMM, course 800x1000x784"]["value"] == 0.8
    shared = found["shared / naive, smallest over all shapes and dtypes"]
    assert shared["value"] == 2.9 and not shared["met"]  # float64's 2.9x, not float32's 3.5x
    epoch = found["GPU epoch / oracle epoch on 2 cores, H 1000, B 800"]
    assert epoch["value"] == 21.0 and epoch["met"]
    missed = {t["name"]: t for t in targets(result(cublas_4096=200.0))}
    assert not missed["regblock / cuBLAS SGEMM, square 4096"]["met"]


def test_report_names_the_device_and_date_and_draws_the_chart(tmp_path):
    text = markdown(result())
    assert text.startswith("# GPU results: NVIDIA H100 80GB HBM3, 2026-11-24")
    assert "| square 4096 | 4096 x 4096 x 4096 | float32 | 10.0 | 35.0 | 72.0 | 100.0 |" in text
    assert "| shared / naive, smallest over all shapes and dtypes | 2.90 | 3 | no |" in text
    plot(result(), tmp_path / "gpu-bench.png")
    assert (tmp_path / "gpu-bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
