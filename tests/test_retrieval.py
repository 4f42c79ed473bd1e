import json

import pytest
import torch

from metrics.retrieval import format_report, retrieval_accuracy, retrieval_report


def test_identical_codes_retrieve_perfectly():
    codes = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    assert retrieval_accuracy(codes, codes + 1e-3) == {1: 1.0, 5: 1.0}


def test_shuffled_codes_score_near_chance():
    g = torch.Generator().manual_seed(1)
    n = 2000
    queries, keys = torch.randn(n, 16, generator=g), torch.randn(n, 16, generator=g)
    acc = retrieval_accuracy(queries, keys)
    assert acc[1] < 5 / n and acc[5] < 20 / n


def test_constant_codes_are_not_rewarded():
    """Every key at the same distance: the partner ties with all the others and ranks last."""
    codes = torch.zeros(10, 4)
    assert retrieval_accuracy(codes, codes) == {1: 0.0, 5: 0.0}


def test_top_k_by_hand():
    # Query i is closest to key i+1 (mod 3) and second closest to its partner, key i.
    keys = torch.tensor([[0.0], [10.0], [20.0]])
    queries = torch.tensor([[4.0], [14.0], [24.0]])  # 0->key0 at 4, key1 at 6: partner ranks first
    assert retrieval_accuracy(queries, keys, ks=(1, 2)) == {1: 1.0, 2: 1.0}
    queries = torch.tensor([[6.0], [16.0], [-100.0]])  # partners rank 2nd, 2nd, 3rd
    assert retrieval_accuracy(queries, keys, ks=(1, 2, 3)) == {1: 0.0, 2: pytest.approx(2 / 3), 3: 1.0}


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_chunked_equals_unchunked(chunk):
    g = torch.Generator().manual_seed(2)
    base = torch.randn(200, 6, generator=g)
    noisy = base + 0.8 * torch.randn(200, 6, generator=g)
    assert retrieval_accuracy(base, noisy, chunk=chunk) == retrieval_accuracy(base, noisy, chunk=200)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        retrieval_accuracy(torch.zeros(3, 2), torch.zeros(4, 2))


def test_report_schema_and_table():
    g = torch.Generator().manual_seed(3)
    shared = torch.randn(20, 4, generator=g)
    codes = {"shared": (shared, shared.clone()), "exclusive": (torch.randn(20, 2, generator=g),
                                                               torch.randn(20, 2, generator=g))}
    report = retrieval_report(codes)
    json.dumps(report)
    for key in ("shared_x2y_top1", "shared_y2x_top1", "exclusive_x2y_top1", "exclusive_y2x_top1",
                "shared_x2y_top5", "exclusive_y2x_top5"):
        assert 0.0 <= report[key] <= 1.0
    assert report["num_pairs"] == 20 and report["shared_x2y_top1"] == 1.0
    table = format_report(report)
    assert "chance top-1 = 0.0500" in table and "shared    X2Y" in table
