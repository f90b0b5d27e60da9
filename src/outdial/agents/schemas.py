"""Agents in and out. The fields and their defaults are the runtime's :class:`AgentConfig` (one source)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic.fields import FieldInfo

from outdial.agent.settings import AgentConfig
from outdial.orgs.inputs import CleanInput, reject_nul

CREATE_EXAMPLE: dict[str, Any] = {
    "name": "Appointment reminder",
    "prompt": "You call patients to confirm tomorrow's appointment. Be brief and polite.",
    "first_message": "Hi {{first_name}}, this is Acme Dental calling about your appointment tomorrow.",
    "speak_order": "agent_first",
    "language": "en-US",
    "input_parameters": [{"name": "first_name", "required": True, "description": "Callee's first name"}],
    "ring_timeout_seconds": 45,
    "max_duration_seconds": 600,
}


class AgentCreate(AgentConfig):
    """Only ``name`` is required; every other field has a working offline default."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CREATE_EXAMPLE]})

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return reject_nul(data)


class _PatchBase(CleanInput):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"first_message": "Hello again!", "ring_timeout_seconds": 30}]},
    )


def _partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` with every field optional and unset by default, for PATCH (null is a value)."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        optional = FieldInfo.merge_field_infos(info, default=None)
        optional.default_factory = None
        fields[field_name] = (Optional[info.annotation], optional)  # noqa: UP045 (a runtime type)
    return create_model(
        name,
        __base__=_PatchBase,
        __doc__="Only the fields sent change; objects (brain, stt, tts, vad...) are replaced whole.",
        **fields,
    )


if TYPE_CHECKING:
    AgentUpdate = BaseModel
else:
    AgentUpdate = _partial(AgentConfig, "AgentUpdate")


class AgentOut(AgentConfig):
    """An agent with every field resolved; provider API keys are shown redacted (``****abcd``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "6f1c2d3e-0a1b-4c5d-8e9f-112233445566",
                    **CREATE_EXAMPLE,
                    "published": True,
                    "outbound_phone_number_id": "a3b4c5d6-7e8f-4a0b-9c1d-2e3f4a5b6c7d",
                    "created_at": "2026-11-22T06:00:00Z",
                    "updated_at": "2026-11-22T06:00:00Z",
                }
            ]
        },
    )

    id: str
    outbound_phone_number_id: str | None = Field(
        default=None,
        description="The phone number whose outbound_agent_id is this agent (set it on the number).",
    )
    created_at: datetime
    updated_at: datetime
