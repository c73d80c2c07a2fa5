"""The sync job's settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from annotation.sync import SyncSettings
from inference_core.settings import Env, database_url

DEFAULT_LABEL_STUDIO_URL = "http://127.0.0.1:8081"


@dataclass(frozen=True)
class Settings:
    database_url: str
    label_studio_url: str
    label_studio_api_key: str
    sync: SyncSettings
    timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, env: Env | None = None) -> Settings:
        env = env or Env()
        return cls(
            database_url=database_url(env),
            label_studio_url=env.text("LABEL_STUDIO_URL", DEFAULT_LABEL_STUDIO_URL),
            label_studio_api_key=env.text("LABEL_STUDIO_API_KEY"),
            sync=SyncSettings(
                max_tasks=env.integer("ANNOTATION_MAX_TASKS", SyncSettings.max_tasks, minimum=0, maximum=10_000),
                random_fraction=env.integer("ANNOTATION_RANDOM_PERCENT", 10, minimum=0, maximum=100) / 100,
                lookback=timedelta(days=env.integer("ANNOTATION_LOOKBACK_DAYS", 7, minimum=1, maximum=3650)),
                project_prefix=env.text("LABEL_STUDIO_PROJECT_PREFIX", ""),
            ),
        )
