from tests.unit.train.conftest import restore_quiet_env

__all__ = ["restore_quiet_env"]
