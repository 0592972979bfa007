"""The soak of `make soak`, for 20 seconds: no errors, nothing lost."""
from bench.soak import soak

from .conftest import running_stack


def test_twenty_seconds_of_mixed_load_loses_nothing(tmp_path_factory):
    with running_stack(tmp_path_factory, workers=2) as stack:
        result = soak(stack, seconds=20, clients=6)
    print(result)
    assert result["errors"] == 0, result["by_kind"]
    assert result["rows_accepted"] > 0 and result["settled"]
    assert result["one_to_one"] and result["done"] == result["predictions"] == result["inputs"]
    assert result["inputs"] == result["rows_accepted"]
