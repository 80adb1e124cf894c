"""Pre-trade risk: the RiskGuard the OrderGateway consults, its typed config and the trading state."""

from xtb.risk.config import RiskConfig, parse_risk_config
from xtb.risk.guard import UNIT, RiskGuard
from xtb.risk.shock import ShockDetector
from xtb.risk.state import StateMachine, TradingState

__all__ = ["UNIT", "RiskConfig", "RiskGuard", "ShockDetector", "StateMachine", "TradingState", "parse_risk_config"]
