"""Test helpers: ``FakeOpenAI``, a local OpenAI-compatible server for code that calls OpenAI.

Point any OpenAI-compatible client at ``fake.base_url`` (or use ``fake.client()``) and get
files, uploads, fine-tuning jobs, chat completions and batches answered locally, with
scripted job lifecycles, pluggable responders, injected latency and faults, and a request
log. See docs/testing.md.

    >>> from vqaft.testing import FakeOpenAI
    >>> with FakeOpenAI() as fake:
    ...     client = fake.client()
    ...     answer = client.chat.completions.create(
    ...         model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    ...     print(answer.choices[0].message.content.startswith("fake answer"))
    True
"""

from __future__ import annotations

from vqaft.testing._fake import FakeOpenAI, FakeServerError, Latency
from vqaft.testing._faults import ENDPOINTS, Fault, FaultKind, FaultPlan, FaultRule
from vqaft.testing._job_results import RESULT_COLUMNS
from vqaft.testing._job_script import (
    DEFAULT_JOB_SCRIPT,
    JobError,
    JobEvent,
    JobScript,
    JobStep,
)
from vqaft.testing._log import Counters, RequestLog, RequestRecord
from vqaft.testing._request import RequestInfo
from vqaft.testing._responders import (
    ChatRequest,
    Reply,
    Responder,
    ResponderResult,
    default_responder,
)
from vqaft.testing._schema_example import example_from_schema

__all__ = [
    "DEFAULT_JOB_SCRIPT",
    "ENDPOINTS",
    "RESULT_COLUMNS",
    "ChatRequest",
    "Counters",
    "FakeOpenAI",
    "FakeServerError",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "JobError",
    "JobEvent",
    "JobScript",
    "JobStep",
    "Latency",
    "Reply",
    "RequestInfo",
    "RequestLog",
    "RequestRecord",
    "Responder",
    "ResponderResult",
    "default_responder",
    "example_from_schema",
]
