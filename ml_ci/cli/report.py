"""`ml-ci report`: the PR report as one sticky comment and the verdict as a commit status."""

from __future__ import annotations

from pathlib import Path

import click

from ml_ci.cli.app import FORMAT_OPTION, config_option, run_guarded
from ml_ci.config import load_config


def report(config_path: Path, pr: int | None, repo: str | None, sha: str | None, github_url: str | None, post: bool) -> int:
    from ml_ci.report.pr import Options, run

    config = load_config(config_path).config
    result = run(config, Options(pr, repo, sha, github_url, post))
    click.echo(f"report: {result.path}")
    if result.comment is not None:
        click.echo(f"PR comment {result.comment.action} (id {result.comment.comment_id})")
    if result.status is not None:
        click.echo(f"commit status: {result.status}")
    if result.skipped:
        click.echo(f"warning: {result.skipped}", err=True)
    return 0


@click.command("report")
@config_option
@click.option(
    "--pr", type=click.IntRange(min=1), default=None, help="Pull request number (default: from the pull_request event)."
)
@click.option("--repo", default=None, metavar="OWNER/NAME", help="Repository (default: GITHUB_REPOSITORY).")
@click.option("--sha", default=None, help="Commit for the status (default: the PR head, else GITHUB_SHA).")
@click.option(
    "--github-url",
    default=None,
    envvar="GITHUB_API_URL",
    help="API URL, for GitHub Enterprise (e.g. https://ghe.example.com/api/v3). Env: GITHUB_API_URL.",
)
@click.option(
    "--post/--no-post",
    default=True,
    show_default=True,
    help="Post the comment and status (token from GITHUB_TOKEN), or only write the markdown.",
)
@FORMAT_OPTION
def command(
    config_path: Path, pr: int | None, repo: str | None, sha: str | None, github_url: str | None, post: bool, fmt: str
) -> None:
    """Write the PR report (.ml-ci/report/report.md, job summary) and post it as one sticky comment.

    The token comes from GITHUB_TOKEN and is never printed. Exit 1 when posting fails.
    """
    raise SystemExit(run_guarded(lambda: report(config_path, pr, repo, sha, github_url, post), fmt=fmt))
