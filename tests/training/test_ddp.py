"""DistributedDataParallel training on 2 CPU processes (gloo): both ranks end with identical weights."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from train_testutil import write_tiny_corpus

SCRIPT = textwrap.dedent("""
    import hashlib, json, os, sys
    from pathlib import Path
    import torch
    import ionmorph.training.train as T

    def finish(cfg, model, *args, **kwargs):
        h = hashlib.sha256()
        for k, v in sorted(model.state_dict().items()):
            h.update(k.encode()); h.update(v.detach().cpu().contiguous().numpy().tobytes())
        rank = os.environ["RANK"]
        Path(sys.argv[1], f"rank{rank}.json").write_text(json.dumps({"sha": h.hexdigest(),
            "world": os.environ["WORLD_SIZE"]}))
        return {}

    T._finish = finish
    cfg = T.TrainConfig(root=Path(sys.argv[2]), out=Path(sys.argv[1]) / "run", cache=Path(sys.argv[1]) / "cache",
                        arch="convnextv2_atto", input_size=32, epochs=2, batch_size=4, steps_per_epoch=2,
                        threads=1, progress=False)
    T.train(cfg)
""")


@pytest.mark.slow
def test_two_cpu_ranks_end_with_identical_weights(tmp_path):
    root = write_tiny_corpus(tmp_path / "corpus", n_sections=4, n_ions=8)
    script = tmp_path / "ddp_run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(script), str(tmp_path), str(root)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"DDP run did not finish in 90 s:\n{err[-3000:]}")
    assert proc.returncode == 0, err[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == "2" for r in ranks)
    assert ranks[0]["sha"] == ranks[1]["sha"]
    # rank 0 alone wrote the run files; two epochs were trained and checkpointed
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert (tmp_path / "run" / "last.pt").is_file()
