"""ROCKET-2 / ROCKET-3 through MineStudio (optional extra ``rocket``); the action conversion is pure and always
available (``actions``)."""
