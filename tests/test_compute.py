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
    meter = ComputeMeter(wall_seconds=1800.0, devices=2)
    assert meter.device_hours == 1.0
    assert set(meter.row()) >= {"flops", "device_hours", "step"} and "devices" not in meter.row()
