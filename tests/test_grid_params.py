"""The grid's scale-out parameters: `keep` and `scheduler` are checked with errors that say the fix."""

from __future__ import annotations

import pytest

from hearlike.config import params_from_dict

BASE = {"dataset": "demo", "data_root": "data/demo", "cache_dir": "cache/demo", "models": ["oracle"]}


def test_keep_and_scheduler_defaults_and_values():
    params = params_from_dict(BASE)
    assert params.keep == ("sentence",) and params.scheduler is None  # the findings test sentences as random
    params = params_from_dict({**BASE, "keep": ["sentence"], "scheduler": "tcp://10.0.0.1:8786"})
    assert params.keep == ("sentence",) and params.scheduler == "tcp://10.0.0.1:8786"
    assert params_from_dict({**BASE, "scheduler": "local"}).scheduler == "local"


def test_keep_names_only_known_outputs():
    with pytest.raises(ValueError, match=r"`keep` names \['sentences'\]; choose from \['sentence'\] "
                                         r"\(e.g. `keep: \[sentence\]`\)"):
        params_from_dict({**BASE, "keep": ["sentences"]})
    with pytest.raises(ValueError, match=r"`keep` must be a list, got 'sentence' \(write `keep: \[sentence\]`\)"):
        params_from_dict({**BASE, "keep": "sentence"})


def test_scheduler_must_be_local_or_an_address():
    with pytest.raises(ValueError, match=r"`scheduler` is 'slurm'; use `local` \(a Dask LocalCluster here\) or a "
                                         r"Dask scheduler address such as `tcp://10.0.0.1:8786`"):
        params_from_dict({**BASE, "scheduler": "slurm"})
