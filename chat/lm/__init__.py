"""Language-model backends behind the `Generator` protocol; `presets.load_generator` picks one."""

from chat.lm.base import Generator, Message, ScriptedGenerator, complete

__all__ = ["Generator", "Message", "ScriptedGenerator", "complete"]
