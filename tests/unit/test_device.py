import pytest
import torch

from model_runtime.device import use_half_precision


@pytest.mark.parametrize(
    ("device", "setting", "expected"),
    [("cuda", "auto", True), ("cpu", "auto", False), ("cpu", "true", True), ("cuda", "false", False)],
)
def test_half_precision_is_automatic_on_cuda_only(device: str, setting: str, expected: bool) -> None:
    assert use_half_precision(torch.device(device), setting) is expected
