"""grader.checks: what the hidden suites' helpers let through, what they fail, and what they say."""

from __future__ import annotations

import pytest
import torch

from grader import checks
from grader.checks import check_on_meta, check_tensor, on_meta


def meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(*shape, device="meta", dtype=dtype)


def shown_frames(excinfo: pytest.ExceptionInfo) -> list[str]:
    """The functions pytest shows in the traceback, after hiding the frames that ask to be hidden."""
    return [entry.name for entry in excinfo.traceback.filter(excinfo)]


# ------------------------------------------------------------------ check_tensor
def test_check_tensor_names_the_device_it_expected_and_the_likely_cause():
    with pytest.raises(AssertionError) as excinfo:
        check_tensor(torch.zeros(3), "relu(x)", shape=(3,), device="meta")
    message = str(excinfo.value)
    assert "relu(x): expected a tensor on the meta device, got one on cpu" in message
    assert f"{checks.LIKELY}{checks.DEVICE}" in message, "with no hint, the likely cause is a tensor made on the CPU"
    with pytest.raises(AssertionError, match="Likely cause: use zeros_like"):
        check_tensor(torch.zeros(3), "relu(x)", device="meta", hint="use zeros_like")
    assert shown_frames(excinfo) == ["test_check_tensor_names_the_device_it_expected_and_the_likely_cause"]


def test_check_tensor_compares_the_device_type_and_an_index_only_when_given():
    check_tensor(meta(2), "x", device="meta")
    check_tensor(meta(2), "x", device=torch.device("meta"))
    check_tensor(torch.zeros(2), "x", device="cpu")
    with pytest.raises(AssertionError, match="expected a tensor on the cuda:1 device, got one on cpu"):
        check_tensor(torch.zeros(2), "x", device="cuda:1")


def test_check_tensor_skips_the_finiteness_check_on_meta_only():
    assert check_tensor(meta(2, 3), "x", shape=(2, 3)).device.type == "meta"
    with pytest.raises(AssertionError, match="1 of 2 values are NaN or infinite"):
        check_tensor(torch.tensor([0.0, float("nan")]), "x")


# ------------------------------------------------------------------ on_meta
def test_code_that_follows_the_input_runs_to_its_end():
    with on_meta("double(x)") as run:
        out = 2 * meta(4) + torch.zeros_like(meta(4))
    assert run.ran and out.device.type == "meta"


def test_a_tensor_made_on_the_cpu_is_a_failure_naming_the_call_its_line_and_the_likely_cause():
    def add_bias(x):
        return x + torch.zeros(4)  # no device=: the CPU

    with pytest.raises(AssertionError) as excinfo:
        with on_meta("add_bias(x)"):
            add_bias(meta(3, 4))
    message = str(excinfo.value)
    assert message.startswith("add_bias(x) on the meta device (a stand-in for a GPU: shapes, no data) failed:")
    assert "RuntimeError: Tensor on device cpu is not on the expected device meta!" in message
    assert "test_checks.py:" in message and "return x + torch.zeros(4)  # no device=: the CPU" in message
    assert message.endswith(f"{checks.LIKELY}{checks.DEVICE}")
    assert excinfo.value.__suppress_context__, "torch's own traceback is not shown below the assertion"
    assert shown_frames(excinfo) == [
        "test_a_tensor_made_on_the_cpu_is_a_failure_naming_the_call_its_line_and_the_likely_cause"]


def test_a_copy_into_a_cpu_tensor_is_a_device_failure_not_the_learners_todo():
    def pad(x):
        padded = torch.full((5,), float("-inf"))  # on the CPU
        padded[1:4] = x  # torch raises NotImplementedError: "Cannot copy out of meta tensor; no data!"
        return padded

    for fn in (pad, lambda x: x.cpu(), lambda x: x.numpy()):
        with pytest.raises(AssertionError, match="Likely cause: pad with F.pad"):
            with on_meta("pad(x)", hint="pad with F.pad"):
                fn(meta(3))


@pytest.mark.parametrize("reads_values", [
    lambda x: x.sum().item(),
    lambda x: bool((x > 0).any()),
    lambda x: float(x.max()),
    lambda x: x[x > 0],  # a boolean mask: its size depends on the values
    lambda x: x.unique(),
    lambda x: x.tolist(),
    lambda x: torch.tensor(x.tolist(), device=x.device),
], ids=["item", "bool", "float", "mask", "unique", "tolist", "tensor_of_tolist"])
def test_code_that_needs_values_is_skipped_not_failed(reads_values):
    with on_meta("f(x)") as run:
        reads_values(meta(3))
        raise AssertionError("not reached: the line above cannot run on meta")
    assert not run.ran and run.reason


def test_tolist_is_itself_again_after_the_block():
    def divide_by_zero():
        return 1 / 0

    for body in (lambda: None, lambda: meta(2).tolist(), divide_by_zero):
        try:
            with on_meta("f(x)"):
                body()
        except ZeroDivisionError:
            pass
        assert "tolist" not in torch.Tensor.__dict__, "the class's own tolist is back"
        assert torch.tensor([1.5, 2.0]).tolist() == [1.5, 2.0]


def test_other_errors_pass_through_untouched():
    todo = NotImplementedError("sigmoid(): compute 1 / (1 + exp(-z))")
    for error in (todo, RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 2x3)"),
                  AssertionError("a check inside the block"), ValueError("bad argument")):
        with pytest.raises(type(error)) as excinfo:
            with on_meta("f(x)"):
                raise error
        assert excinfo.value is error


# ------------------------------------------------------------------ check_on_meta
def test_check_on_meta_returns_the_checked_result():
    out = check_on_meta("relu(x)", torch.relu, meta(2, 3), shape=(2, 3), dtype=torch.float32)
    assert out.shape == (2, 3) and out.device.type == "meta"
    out = check_on_meta("sum(x, dim=1)", torch.sum, meta(2, 3), shape=(2,), dim=1)  # keyword arguments reach fn
    assert out.shape == (2,)


def test_check_on_meta_returns_none_when_the_code_needs_values():
    assert check_on_meta("f(x)", lambda x: x * x.max().item(), meta(3), shape=(3,)) is None


def test_check_on_meta_fails_a_result_on_another_device_or_of_another_shape():
    with pytest.raises(AssertionError) as excinfo:
        check_on_meta("f(x)", lambda x: torch.zeros(3), meta(3), hint="use zeros_like")
    assert str(excinfo.value) == ("f(x) on the meta device: expected a tensor on the meta device, got one on cpu\n"
                                  "Likely cause: use zeros_like")
    assert shown_frames(excinfo) == ["test_check_on_meta_fails_a_result_on_another_device_or_of_another_shape"]
    with pytest.raises(AssertionError, match=r"f\(x\) on the meta device: expected shape \(3,\), got \(1, 3\)"):
        check_on_meta("f(x)", lambda x: x[None], meta(3), shape=(3,))
    with pytest.raises(AssertionError, match="expected a torch.Tensor, got NoneType"):
        check_on_meta("f(x)", lambda x: None, meta(3))
    with pytest.raises(AssertionError) as excinfo:
        check_on_meta("f(x)", lambda x: x + torch.ones(3), meta(3))
    assert shown_frames(excinfo) == ["test_check_on_meta_fails_a_result_on_another_device_or_of_another_shape"]


# ------------------------------------------------------------------ assert_equal
def test_assert_equal_says_how_many_values_differ_and_the_first_never_the_tensors():
    expected = torch.arange(12.0).reshape(3, 4)
    actual = expected.clone()
    actual[1, 2] = -1.0
    actual[2, 0] = 99.0
    with pytest.raises(AssertionError) as excinfo:
        checks.assert_equal(actual, expected, "the skip", hint="the skips are used in the wrong order")
    message = str(excinfo.value)
    assert message == ("the skip: 2 of 12 values differ from the expected ones (first at index (1, 2): got -1.0, "
                       "expected 6.0)\nLikely cause: the skips are used in the wrong order")
    assert "tensor(" not in message
    assert shown_frames(excinfo) == ["test_assert_equal_says_how_many_values_differ_and_the_first_never_the_tensors"]


def test_assert_equal_names_a_shape_a_non_tensor_and_nan_as_torch_equal_does():
    with pytest.raises(AssertionError, match=r"^x: expected shape \(2, 3\), got \(3, 2\)"):
        checks.assert_equal(torch.zeros(3, 2), torch.zeros(2, 3), "x")
    with pytest.raises(AssertionError, match="^x: expected a torch.Tensor, got NoneType"):
        checks.assert_equal(None, torch.zeros(2), "x")
    with pytest.raises(AssertionError, match=r"first at the one value: got nan, expected nan"):
        checks.assert_equal(torch.tensor(float("nan")), torch.tensor(float("nan")), "x")
    checks.assert_equal(torch.tensor([1, 2]), torch.tensor([1.0, 2.0]), "x")  # equal values, as torch.equal says
    checks.assert_equal(torch.tensor([True, False]), torch.tensor([True, False]), "x")
    with pytest.raises(AssertionError, match=r"first at index \(1,\): got 2.000000238418579, expected 2.0"):
        checks.assert_equal(torch.tensor([1.0, 2.0000002]), torch.tensor([1.0, 2.0], dtype=torch.float64), "x")
