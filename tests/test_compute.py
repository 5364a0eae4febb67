"""FLOPs accounting against hand-computed numbers."""

from scaling.compute import ComputeMeter, ModelShape, attended_positions


def test_attended_positions_is_the_causal_sum():
    # tokens at positions 4, 5, 6 after 3 cached ones attend to 4 + 5 + 6 positions
    assert attended_positions(3, 3) == 15
    assert attended_positions(0, 4) == 1 + 2 + 3 + 4


def test_forward_and_backward_flops_by_hand():
    shape = ModelShape(matmul_params=1000, layers=2, hidden=8)
    meter = ComputeMeter()
    meter.add_forward(shape, sequences=2, start=0, length=3)
    # per sequence: 2*1000*3 + 4*2*8*(1+2+3) = 6000 + 384
    assert meter.flops == 2 * 6384
    meter.add_backward(shape, sequences=1, start=0, length=3)
    assert meter.flops == 2 * 6384 + 2 * 6384


def test_device_hours_scale_with_devices():
    meter = ComputeMeter(devices=2)
    meter.add_time(1800.0)
    assert meter.device_hours == 1.0 and meter.wall_seconds == 1800.0
    assert set(meter.row()) >= {"flops", "device_hours", "step"} and "devices" not in meter.row()


def test_resume_on_other_hardware_counts_each_part_at_its_own_devices():
    meter = ComputeMeter(devices=8)
    meter.add_time(900.0)
    resumed = ComputeMeter.restore(vars(meter).copy(), devices=2)  # requeued onto a smaller allocation
    resumed.add_time(1800.0)
    assert resumed.devices == 2 and resumed.device_hours == 2.0 + 1.0
    old = {k: v for k, v in vars(meter).items() if k != "device_seconds"}  # a checkpoint from before the field
    assert ComputeMeter.restore(old, devices=1).device_hours == 2.0


def test_devices_in_use_are_the_ranks_gpus_or_the_cpu_cores():
    import torch

    from scaling.runtime import Runtime

    assert Runtime(device=torch.device("cpu"), world_size=2).devices_in_use(threads=4) == 8
    assert Runtime(device=torch.device("cuda", 0), world_size=2).devices_in_use(threads=4) == 2
