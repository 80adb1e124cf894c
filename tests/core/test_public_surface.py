import xtb._core as compiled
import xtb.core as core


def test_every_public_compiled_name_is_exported():
    public = {n for n in dir(compiled) if not n.startswith("_")}
    assert public <= set(core.__all__), public - set(core.__all__)
    for name in core.__all__:
        assert getattr(core, name) is not None


def test_lighter_signer_is_part_of_the_surface():
    from xtb.signing.lighter import LighterSigner

    assert core.LighterSigner is LighterSigner
    assert core.core_version == compiled.__version__
