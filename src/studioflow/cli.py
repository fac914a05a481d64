"""The ``studioflow`` command: serve, worker, migrate, demo, admin, config."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console

from studioflow import __version__
from studioflow.settings import Role, Settings, load_settings

app = typer.Typer(
    name="studioflow",
    help="Studioflow: AI image batches, image hosting and the business around them.",
    no_args_is_help=True,
    add_completion=False,
    # Rich tracebacks print local variables, which can hold secrets.
    pretty_exceptions_enable=False,
)
admin_app = typer.Typer(help="Platform administration.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")

console = Console(stderr=True, soft_wrap=True)


def announce(settings: Settings, event: str, **fields: object) -> None:
    """A start-up line: a JSON log event in production (a plain line there broke the JSON
    log stream that collectors parse), a readable line for a person otherwise."""
    if settings.is_production:
        import structlog

        structlog.get_logger("studioflow").info(event, **fields)
    else:
        details = " ".join(f"{k}={v!r}" for k, v in fields.items())
        console.print(f"[bold]Studioflow[/bold] {event.replace('.', ' ')} {details}")


ROLE_ENV = "STUDIOFLOW_SERVE_ROLE"


def main() -> None:
    app()


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations (production runs this before starting the new release)."""
    settings = load_settings()
    _run(_prepare(settings, migrate=True, seed=False, revision=revision))
    console.print(f"[green]Database at revision {revision}.[/green]")


@app.command()
def demo() -> None:
    """Seed demo data into a new database and print how to sign in."""
    settings = load_settings()
    _run(_prepare(settings, migrate=True, seed=True))


@app.command()
def serve(
    role: Annotated[Role, typer.Option(help="Which routes this process serves.")] = Role.all,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes.")] = 1,
    host: Annotated[str | None, typer.Option(help="Bind address (default: settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings).")] = None,
    demo: Annotated[bool, typer.Option(help="Seed a demo admin on a new database.")] = False,
    migrate: Annotated[
        bool | None,
        typer.Option(help="Apply migrations first (default: yes unless ENV=production)."),
    ] = None,
    with_worker: Annotated[
        bool | None,
        typer.Option(help="Run a job worker in this process (default: yes when embedded)."),
    ] = None,
) -> None:
    """Serve the web app and API."""
    # Command-line host/port win over the environment; the server processes read the
    # environment, so put them there for them too.
    if host is not None:
        os.environ["STUDIOFLOW_HOST"] = host
    if port is not None:
        os.environ["STUDIOFLOW_PORT"] = str(port)
    settings = load_settings()
    if workers > 1 and settings.embedded_queue:
        _fail(
            "--workers > 1 needs STUDIOFLOW_REDIS_URL: the embedded queue, events and rate "
            "limits live inside one process."
        )
    if with_worker and not settings.embedded_queue and workers > 1:
        _fail("--with-worker runs one worker; start `studioflow worker` processes instead.")
    do_migrate = migrate if migrate is not None else not settings.is_production
    _run(_prepare(settings, migrate=do_migrate, seed=demo))

    import uvicorn

    bind_host, bind_port = settings.host, settings.port
    run_worker = with_worker if with_worker is not None else settings.embedded_queue
    console.print(
        f"[bold]Studioflow {__version__}[/bold] ({role.value}) on "
        f"[link]http://{bind_host}:{bind_port}[/link]"
        + (" · embedded worker" if run_worker else "")
    )
    if workers > 1:
        # Each server process counts on its own; prometheus_client's multiprocess mode lets
        # /metrics add them up. The folder is per start: stale files would double-count.
        import shutil

        metrics_dir = settings.data_dir / f"prometheus-{role.value}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    os.environ[ROLE_ENV] = role.value
    os.environ["STUDIOFLOW_SERVE_WORKER"] = "1" if run_worker else "0"
    uvicorn.run(
        "studioflow.cli:app_from_environment",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers,
        proxy_headers=False,  # client addresses are resolved by our trusted-proxy setting
        server_header=False,
        log_config=None,
        access_log=False,
    )


def app_from_environment():  # type: ignore[no-untyped-def]
    """Uvicorn factory: each server process builds its own app and platform."""
    from studioflow.app import create_app, served

    settings = load_settings()
    role = Role(os.environ.get(ROLE_ENV, Role.all.value))
    run_worker = os.environ.get("STUDIOFLOW_SERVE_WORKER", "0") == "1"
    return served(create_app(settings, role=role, run_worker=run_worker))


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Jobs run at once (default: settings).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve this worker's Prometheus metrics on this port.")
    ] = None,
) -> None:
    """Run background jobs from the Redis queue (at scale; embedded serve has its own)."""
    settings = load_settings()
    if settings.embedded_queue:
        _fail(
            "studioflow worker needs STUDIOFLOW_REDIS_URL; in embedded mode `studioflow serve` "
            "runs the worker inside the server."
        )
    from studioflow.media.delivery_cache import publish_changes
    from studioflow.platform import site_settings
    from studioflow.platform.jobs import build_worker
    from studioflow.platform.observability import configure_logging, keep_queue_depth
    from studioflow.platform.runtime import build_platform, freeze_startup_heap
    from studioflow.studio import live
    from studioflow.studio.tasks import recover as recover_executions

    configure_logging(json_logs=settings.is_production, level=settings.log_level)
    import studioflow.tasks  # noqa: F401  (registers every feature's tasks)

    async def run() -> None:
        # A worker needs only the control messages of the executions it runs, and to hear
        # of changed platform settings.
        platform = build_platform(settings, listen=(live.CONTROL_CHANNELS, site_settings.CHANNEL))
        publish_changes(platform)  # what the worker's jobs change reaches the view role
        if metrics_port:
            from prometheus_client import start_http_server

            start_http_server(metrics_port, addr=settings.host, registry=platform.metrics.registry)
        saq_worker = build_worker(
            platform, concurrency=concurrency or settings.worker_concurrency, embedded=False
        )
        studio_worker = build_worker(
            platform,
            concurrency=settings.studio_worker_concurrency,
            embedded=False,
            queue="studio",
        )
        workers = (saq_worker, studio_worker)
        # Two SAQ workers share the process: SAQ would give each signal to whichever
        # registered last, so the process handles them and stops both.
        loop = asyncio.get_running_loop()
        for worker_ in workers:
            worker_.SIGNALS = []

        def stop_all() -> None:
            for w in workers:
                w.event.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop_all)
        announce(settings, "worker.started", queue=settings.queue_name)
        freeze_startup_heap()
        # Batches a dead worker left are queued again now, not at the next minute's sweep
        # (after a whole-cluster restart every worker starts, and each would otherwise wait).
        if recovered := await recover_executions(platform):
            announce(settings, "worker.recovered", executions=recovered)
        depth = asyncio.create_task(keep_queue_depth(platform)) if metrics_port else None
        following = asyncio.create_task(platform.site.follow(platform.events))
        try:
            await asyncio.gather(saq_worker.start(), studio_worker.start())
        finally:
            following.cancel()
            if depth is not None:
                depth.cancel()
            await platform.close()

    asyncio.run(run())


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Option(help="The administrator's email.")],
    password: Annotated[
        str | None, typer.Option(help="Password (default: generated and printed once).")
    ] = None,
) -> None:
    """Create a platform administrator."""
    settings = load_settings()
    from studioflow.demo import create_admin
    from studioflow.platform.db import Database
    from studioflow.platform.runtime import passwords_for
    from studioflow.platform.security import random_password

    secret = password or random_password()

    async def run() -> None:
        database = Database.open(settings.database_url)
        try:
            password_hash = await passwords_for(settings).hash(secret)
            async with database.transaction() as session:
                await create_admin(session, email=email, password_hash=password_hash)
        finally:
            await database.dispose()

    try:
        asyncio.run(run())
    except Exception as error:  # an IntegrityError names the duplicate email
        _fail(f"could not create the administrator: {type(error).__name__}")
    console.print(f"Administrator [bold]{email}[/bold] created.")
    if password is None:
        console.print(f"Password (shown once): [bold]{secret}[/bold]")


@app.command()
def upload(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    server: Annotated[
        str | None, typer.Option(help="Studioflow URL (default: STUDIOFLOW_BASE_URL).")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="An API key with images:write.", envvar="STUDIOFLOW_API_KEY")
    ] = None,
    album: Annotated[str | None, typer.Option(help="Album id to put the images in.")] = None,
    public: Annotated[bool | None, typer.Option("--public/--private", help="Visibility.")] = None,
    direct_from: Annotated[
        int,
        typer.Option(
            min=1,
            help="Files of this many bytes or more go as direct uploads (a signed PUT "
            "straight to the store).",
        ),
    ] = 8 * 1024 * 1024,
) -> None:
    """Upload images with a progress bar; run again to resume (uploaded files are skipped)."""
    if not api_key:
        _fail("give --api-key or set STUDIOFLOW_API_KEY (create one on the account page).")
    from studioflow.media.uploader import upload_paths
    from studioflow.platform.answers import ServerRefused

    target = server or load_settings().base_url
    try:
        outcome = upload_paths(
            paths,
            server=target,
            api_key=api_key or "",
            album=album,
            public=public,
            console=console,
            direct_from=direct_from,
        )
    except ServerRefused as refused:
        _fail(f"{target} refused: {refused}")
    except httpx.HTTPError as error:
        _fail(f"could not talk to {target}: {error}")
    console.print(
        f"uploaded {len(outcome.uploaded)}, already there {len(outcome.skipped)}, "
        f"not images {len(outcome.not_images)}, failed {len(outcome.failed)}"
    )
    for path, reason in outcome.failed:
        console.print(f"  failed  {path}: {reason}", highlight=False)
    if outcome.failed:
        raise SystemExit(1)


@app.command()
def generate(
    prompts_file: Annotated[
        Path,
        typer.Argument(help="Prompts: one per line (# comments), or CSV with a prompt column."),
    ],
    workflow: Annotated[str, typer.Option(help="Workflow id (GET /api/v1/workflows).")],
    wait: Annotated[bool, typer.Option(help="Follow progress until the batch ends.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Download the results (and manifest.csv) here; implies --wait."),
    ] = None,
    aspect_ratio: Annotated[str | None, typer.Option(help="For example 16:9.")] = None,
    server: Annotated[
        str | None, typer.Option(help="Studioflow URL (default: STUDIOFLOW_BASE_URL).")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="An API key with workflows:execute.", envvar="STUDIOFLOW_API_KEY"),
    ] = None,
) -> None:
    """Run a batch of prompts through a workflow, with a live progress bar."""
    if not api_key:
        _fail("give --api-key or set STUDIOFLOW_API_KEY (create one on the account page).")
    if not prompts_file.is_file():
        _fail(f"{prompts_file} is not a file.")
    from studioflow.studio.generator import GenerateError
    from studioflow.studio.generator import generate as run_generate

    target = server or load_settings().base_url
    try:
        outcome = run_generate(
            prompts_file,
            workflow=workflow,
            server=target,
            api_key=api_key or "",
            aspect_ratio=aspect_ratio,
            wait=wait,
            out=out,
            console=console,
        )
    except GenerateError as error:
        _fail(str(error))
    except httpx.HTTPError as error:
        _fail(f"could not talk to {target}: {error}")
    console.print(
        f"{outcome.status}: {outcome.completed} done, {outcome.failed} failed of {outcome.total}"
    )
    if outcome.files:
        console.print(f"saved {len(outcome.files)} files to {out}")
    if outcome.status in {"failed", "cancelled"}:
        raise SystemExit(1)


@app.command()
def fsck(
    repair: Annotated[
        bool, typer.Option(help="Delete orphans older than an hour and broken rows.")
    ] = False,
) -> None:
    """Check that stored image files and database rows match; optionally repair."""
    settings = load_settings()
    from studioflow.media.delivery_cache import publish_changes
    from studioflow.media.fsck import check
    from studioflow.platform.runtime import build_platform

    async def run() -> None:
        platform = build_platform(settings)
        publish_changes(platform)  # a repaired variant row reaches the view role
        try:
            report = await check(platform, repair=repair)
        finally:
            await platform.close()
        console.print(
            f"checked {report.objects_checked} objects and {report.rows_checked} rows: "
            f"{len(report.orphan_objects)} objects without a row, "
            f"{len(report.missing_objects)} rows without their object"
            + (f"; repaired {report.repaired}" if repair else "")
        )
        for key in report.orphan_objects[:50]:
            console.print(f"  orphan  {key}", highlight=False)
        for key in report.missing_objects[:50]:
            console.print(f"  missing {key}", highlight=False)
        if (report.orphan_objects or report.missing_objects) and not repair:
            raise SystemExit(1)

    _run(run())


@app.command("config")
def show_config() -> None:
    """Print the effective configuration, secrets masked."""
    settings = load_settings()
    for name, value in _masked(settings).items():
        typer.echo(f"STUDIOFLOW_{name.upper()}={value}")


def _masked(settings: Settings) -> dict[str, object]:
    values = settings.model_dump()
    for key in ("secret_key", "s3_secret_access_key"):
        if values.get(key):
            values[key] = "********"
    for key in ("database_url", "redis_url", "smtp_url"):
        value = values.get(key)
        if isinstance(value, str) and "@" in value and ":" in value.split("@", 1)[0]:
            scheme, rest = value.split("://", 1)
            credentials, host = rest.split("@", 1)
            user = credentials.split(":", 1)[0]
            values[key] = f"{scheme}://{user}:********@{host}"
    return values


async def _prepare(
    settings: Settings, *, migrate: bool, seed: bool, revision: str = "head"
) -> None:
    """Migrate (or check the schema is current) and seed the demo if asked."""
    from studioflow.demo import read_kept, seed_demo
    from studioflow.platform.db import Database
    from studioflow.platform.migrations import current_revision, head_revision, upgrade
    from studioflow.seeds import seed_reference_data

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database.open(settings.database_url)
    try:
        if migrate:
            await upgrade(database.engine, revision)
            # Roles and permissions are data the code relies on: seeded with every migration.
            if revision == "head":
                async with database.transaction() as session:
                    await seed_reference_data(
                        session, gemini_configured=settings.gemini_api_key is not None
                    )
        else:
            current, head = await current_revision(database.engine), head_revision()
            if current != head:
                _fail(
                    f"the database is at revision {current}, the code needs {head}: "
                    "run `studioflow migrate` first."
                )
        if seed:
            from studioflow.platform.runtime import passwords_for

            created = await seed_demo(database, settings.data_dir, passwords_for(settings))
            credentials = created or read_kept(settings.data_dir)
            url = settings.base_url
            console.rule("[bold]Studioflow is ready[/bold]")
            console.print(f"Open [link]{url}[/link]")
            if created:
                console.print("A demo administrator was created for this new database:")
            if credentials:
                console.print(f"  email:    [bold]{credentials.email}[/bold]")
                console.print(f"  password: [bold]{credentials.password}[/bold]")
                console.print(
                    f"Sign in at {url}/login (kept in "
                    f"{settings.data_dir / 'demo-credentials.txt'})."
                )
            else:
                console.print("Sign in with the administrator you created for this database.")
            console.print(
                "The command line: [bold].venv/bin/studioflow --help[/bold] (upload, generate, "
                "admin, fsck...); it talks to this server with an API key from your account page "
                "in STUDIOFLOW_API_KEY."
            )
            console.rule()
    finally:
        await database.dispose()


def _run(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work``; an unreachable backing service is one line, not a traceback."""
    from sqlalchemy.exc import DBAPIError

    try:
        asyncio.run(work)
    except DBAPIError as error:
        reason = str(error.orig).splitlines()[0] if error.orig else type(error).__name__
        _fail(f"the database at STUDIOFLOW_DATABASE_URL did not answer: {reason}")
    except (ConnectionError, OSError) as error:
        _fail(f"a backing service did not answer: {error}")


def _fail(message: str) -> NoReturn:
    console.print(f"studioflow: {message}", style="red", highlight=False)
    sys.exit(2)
