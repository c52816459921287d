"""Language-model backends behind the `Generator` protocol; `presets.load_generator` picks one."""

from chat.lm.base import BatchGenerator, Generator, Message, ScriptedGenerator, complete, complete_many

__all__ = ["BatchGenerator", "Generator", "Message", "ScriptedGenerator", "complete", "complete_many"]
