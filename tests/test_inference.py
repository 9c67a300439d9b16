"""Dense inference over whole videos: chunked == one pass; fused + channels_last; ONNX parity."""

from __future__ import annotations

import copy
import types

import pytest
import torch

import tan_video as tv
from tan_video.checkpoint import build_model_from_checkpoint, save_model_file
from tan_video.errors import InputError
from tan_video.inference import default_precision, predict_logits, prepare_for_inference
from tan_video.models import TemporalAggregation


def trained_like_tiny(**kwargs):
    """tan_tiny with non-zero temporal weights (as after training), in eval mode."""
    torch.manual_seed(0)
    model = tv.create_model("tan_tiny", num_classes=5, **kwargs).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, TemporalAggregation):
                for conv in m.convs:
                    conv.weight.normal_(0, 0.05)
                if m.bn is not None:  # the zero-scale BN opens during training
                    m.bn.weight.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("chunk", [7, 16, 25])
def test_chunked_inference_equals_one_pass(chunk):
    model = trained_like_tiny()
    frames = torch.randint(0, 256, (3, 61, 48, 48), dtype=torch.uint8)
    whole = predict_logits(model, frames, chunk=10_000)
    chunked = predict_logits(model, frames, chunk=chunk)
    torch.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-4)
    # too little context breaks exactness: the test can fail
    short = predict_logits(model, frames, chunk=chunk, context=model.temporal_radius - 3)
    assert (short - whole).abs().max() > 1e-3


def test_inference_form_matches_training_form_and_bf16_stays_close():
    model = trained_like_tiny()
    frames = torch.randint(0, 256, (3, 40, 48, 48), dtype=torch.uint8)
    ref = predict_logits(model, frames)
    fast = prepare_for_inference(model)  # fused, channels_last
    torch.testing.assert_close(predict_logits(fast, frames, chunk=16), ref, rtol=1e-4, atol=1e-4)
    bf16 = predict_logits(fast, frames, chunk=16, precision="bf16")
    probs = torch.sigmoid
    assert (probs(bf16) - probs(ref)).abs().max() < 0.03  # documented bf16 tolerance on probabilities


def test_baselines_get_one_pass(tmp_path):
    model = tv.create_model("tiny_3d", num_classes=3).eval()
    frames = torch.randint(0, 256, (3, 37, 48, 48), dtype=torch.uint8)
    assert model.temporal_radius is None
    assert predict_logits(model, frames, chunk=8).shape == (37, 3)


def test_a_checkpoint_from_before_the_stem_default_changed_rebuilds_with_the_max_pool(tmp_path):
    model = tv.create_model("tan_tiny", num_classes=3, stem_pool=True).eval()
    payload_model = copy.deepcopy(model)
    payload_model.build_args = {"name": "tan_tiny", "num_classes": 3}  # as written before stem_pool was recorded
    save_model_file(tmp_path / "old.pt", payload_model, {"class_names": list("abc"), "fps": 8.0, "size": 64})
    rebuilt, meta = build_model_from_checkpoint(tmp_path / "old.pt")
    assert meta["build_args"]["stem_pool"] is True and isinstance(rebuilt.maxpool, torch.nn.MaxPool2d)
    x = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), model(x))


def test_checkpoint_file_rebuilds_the_model(tmp_path):
    model = trained_like_tiny(levels=(3, 4))
    meta = {"class_names": list("abcde"), "fps": 8.0, "size": 48}
    save_model_file(tmp_path / "model.pt", model, meta)
    rebuilt, got = build_model_from_checkpoint(tmp_path / "model.pt")
    assert got["build_args"] == {"name": "tan_tiny", "num_classes": 5, "levels": (3, 4), "stem_pool": False}
    assert got["class_names"] == list("abcde") and got["fps"] == 8.0
    x = torch.randn(1, 3, 9, 48, 48)
    torch.testing.assert_close(rebuilt.eval()(x), model(x))
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"bad.pt: not a PyTorch file \(it starts with b'garb'\)"):
        build_model_from_checkpoint(tmp_path / "bad.pt")
    data = (tmp_path / "model.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])  # an interrupted copy
    with pytest.raises(InputError, match="cut.pt: truncated or damaged"):
        build_model_from_checkpoint(tmp_path / "cut.pt")
    torch.save(model, tmp_path / "module.pt")  # a whole pickled module: never unpickled
    with pytest.raises(InputError, match=r"module.pt: holds pickled Python objects") as err:
        build_model_from_checkpoint(tmp_path / "module.pt")
    assert len(str(err.value).split("module.pt: ")[1]) < 200 and "\n" not in str(err.value)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a tan-video checkpoint"):
        build_model_from_checkpoint(tmp_path / "other.pt")


def test_onnx_export_matches_pytorch_for_any_length(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the optional [onnx] extra")
    from tan_video.export import export_onnx

    model = trained_like_tiny()
    save_model_file(tmp_path / "model.pt", model, {"class_names": list("abcde"), "fps": 8.0, "size": 48})
    path = export_onnx(tmp_path / "model.pt", tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path))
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["class_names"] == '["a", "b", "c", "d", "e"]' and meta["fps"] == "8.0"
    import onnx

    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert "Conv" in ops and "BatchNormalization" not in ops  # every BN folded into its conv
    for t in (5, 16, 29):
        x = torch.randn(2, 3, t, 48, 48)
        out = session.run(None, {"clip": x.numpy()})[0]
        torch.testing.assert_close(torch.from_numpy(out), model(x), rtol=1e-4, atol=1e-4)
    save_model_file(tmp_path / "lstm.pt", tv.create_model("tiny_2d_lstm", num_classes=5),
                    {"class_names": list("abcde"), "fps": 8.0, "size": 48})
    with pytest.raises(InputError, match="baseline"):
        export_onnx(tmp_path / "lstm.pt", tmp_path / "lstm.onnx")


def test_default_precision_is_bf16_only_with_native_bf16(monkeypatch):
    # torch returns a read-only mappingproxy, not a dict: it must still be read
    caps = {"avx512_bf16": True, "amx_bf16": False}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: types.MappingProxyType(caps))
    assert default_precision() == "bf16"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: types.MappingProxyType({"avx512_bf16": False}))
    assert default_precision() == "32"

    def missing():
        raise AttributeError("no capability query in this torch")

    monkeypatch.setattr(torch.cpu, "get_capabilities", missing)
    assert default_precision() == "32"
