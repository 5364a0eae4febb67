import pytest
import torch

from scaling.runtime import Runtime, init_runtime, peak_memory_bytes, resolve_device


def test_auto_is_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


def test_cuda_without_gpu_names_the_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="cuda:1.*no CUDA device"):
        resolve_device("cuda:1")


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="expected auto, cpu, cuda"):
        resolve_device("tpu")


def test_single_process_without_launcher_env(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    rt = init_runtime("cpu")
    assert (rt.rank, rt.world_size, rt.is_main, rt.distributed, rt.backend) == (0, 1, True, False, None)
    assert rt.generator(3).device == torch.device("cpu")


def test_devices_in_use_counts_cores_on_cpu_and_gpus_per_rank():
    assert Runtime(torch.device("cpu"), world_size=2).devices_in_use(threads=3) == 6
    assert Runtime(torch.device("cuda", 0), world_size=4).devices_in_use(threads=8) == 4
    assert peak_memory_bytes(Runtime(torch.device("cpu"))) != peak_memory_bytes(Runtime(torch.device("cpu")))  # NaN


def test_gathered_objects_carry_their_tensors_onto_this_ranks_device():
    """all_gather sends tensors from the CPU and lands them on the receiving rank's device, through containers."""
    import torch

    from scaling.runtime import _tensors_to

    t = torch.ones(2, device="cpu")
    moved = _tensors_to((t, [t, 3], {"a": t, "b": "x"}), torch.device("meta"))
    assert isinstance(moved, tuple) and isinstance(moved[1], list) and moved[1][1] == 3 and moved[2]["b"] == "x"
    assert {x.device.type for x in (moved[0], moved[1][0], moved[2]["a"])} == {"meta"}


def test_shards_are_contiguous_balanced_and_cover_everything():
    import torch

    from scaling.runtime import Runtime

    for world in (1, 2, 3, 4):
        for n in range(0, 11):
            parts = [Runtime(torch.device("cpu"), rank=r, world_size=world).shard(list(range(n))) for r in range(world)]
            assert [i for p in parts for i in p] == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_one_process_collectives_are_the_identity():
    import torch

    from scaling.runtime import Runtime

    rt = Runtime(torch.device("cpu"))
    assert rt.all_reduce_sum([1, 2.5]) == [1.0, 2.5] and rt.all_reduce_max([3]) == [3.0]
    assert rt.any_true(True) and not rt.any_true(False) and rt.all_gather({"a": 1}) == [{"a": 1}]
    rt.barrier()
