"""Pre-trade risk: the RiskGuard the OrderGateway consults, its typed config and the trading state."""

from xtb.risk.config import RiskConfig, parse_risk_config
from xtb.risk.drawdown import DrawdownBands, ReduceRequest
from xtb.risk.guard import UNIT, RiskGuard
from xtb.risk.kill import kill_and_verify, kill_switch
from xtb.risk.pnl import PnlLedger
from xtb.risk.reducer import ReduceLeg, Reducer
from xtb.risk.shock import ShockDetector
from xtb.risk.state import StateMachine, TradingState

__all__ = [
    "UNIT", "DrawdownBands", "PnlLedger", "ReduceLeg", "ReduceRequest", "Reducer", "RiskConfig", "RiskGuard",
    "ShockDetector", "StateMachine", "TradingState", "kill_and_verify", "kill_switch", "parse_risk_config",
]
