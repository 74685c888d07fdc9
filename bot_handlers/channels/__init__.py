"""Messengers behind one conversation layer: the contract (base.py), the router that hands
events to the patient flows (router.py), the binding of buttons to their chat (buttons.py),
the adapters (telegram.py) and the registry of adapters (registry.py)."""
