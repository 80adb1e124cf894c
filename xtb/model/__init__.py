"""The bottom layer: types every other layer shares (sides, order requests, market info, denials, constants).

Nothing here imports from the rest of xtb except the compiled core.
"""
