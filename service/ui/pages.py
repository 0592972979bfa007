"""The /ui/ pages: log in and out, the models and one version's charts (admins and
analysts; an admin also changes thresholds and promotes a shadow), the review queue
(admins and reviewers). Server-rendered (templates/ui/), the charts drawn in the
browser by Chart.js served from static/vendor/ (tools/ui_assets.py installs it)."""
from typing import Any

from bson import ObjectId
from eve.methods.patch import patch_internal
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from pymongo.database import Database
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from core.types import ModelDocument

from .. import context
from ..models.catalog import PRODUCTION
from ..models.quality import DEFAULT_DRIFT_THRESHOLD, WINDOWS
from ..roles import ADMIN, ANALYST, REVIEWER
from . import figures, review, session
from .forms import (
    FeedbackForm,
    LoginForm,
    LogoutForm,
    PromoteForm,
    ThresholdsForm,
    refusal_of,
)

blueprint = Blueprint("ui", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static")
VERSION_WINDOW = "7d"


def db() -> Database[Any]:
    return context.db()


@blueprint.context_processor
def chrome() -> dict[str, Any]:
    """What every page's frame shows: who is signed in, and the log-out form."""
    return {"account": g.get("account"), "logout_form": LogoutForm()}


@blueprint.get("/")
def home() -> Response:
    account = session.signed_in()
    return redirect(session.home_of(account) if account else url_for("ui.login"))


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if request.method == "GET":
        return render_template("ui/login.html", form=form, next=request.args.get("next"))
    if not form.validate_on_submit():
        return render_template("ui/login.html", form=form, error=refusal_of(form),
                               next=request.form.get("next")), 400
    try:
        session.log_in(form.token.data)
    except session.Refusal as refusal:
        return render_template("ui/login.html", form=LoginForm(formdata=None),
                               error=refusal.reason, next=request.form.get("next")), \
            refusal.status
    return redirect(session.safe_next(request.form.get("next")))


@blueprint.route("/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    form = LogoutForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("ui/logout.html", form=form, error=refusal_of(form)), 400
        session.log_out()
        return redirect(url_for("ui.login"))
    g.account = session.signed_in()
    return render_template("ui/logout.html", form=form)


@blueprint.get("/models")
@session.page_for(ADMIN, ANALYST)
def models() -> str:
    return render_template("ui/models.html", names=figures.overview(db()),
                           trainings=figures.trainings(db()))


def version_of(name: str, version: int) -> ModelDocument:
    model = db().models.find_one({"name": name, "version": version})
    if model is None:
        abort(404, description=f"no model {name} version {version}")
    return model


@blueprint.get("/models/<name>/<int:version>")
@session.page_for(ADMIN, ANALYST)
def version_page(name: str, version: int, form: ThresholdsForm | None = None,
                 status: int = 200) -> tuple[str, int]:
    """The version's charts; an admin also gets the forms that change it (thresholds,
    promoting its shadow), an analyst the figures alone."""
    model = version_of(name, version)
    window = request.args.get("window", VERSION_WINDOW)
    if window not in WINDOWS:
        abort(400, description=f"window is one of {', '.join(WINDOWS)}")
    form = form or ThresholdsForm(formdata=None, data={
        "drift_threshold": model.get("drift_threshold") or DEFAULT_DRIFT_THRESHOLD,
        "review_threshold": model.get("review_threshold")})
    return render_template("ui/version.html", model=model, window=window, windows=list(WINDOWS),
                           page=figures.version_page(db(), model, window), form=form,
                           promote=PromoteForm(), writes=session.may(ADMIN)), status


@blueprint.post("/models/<name>/<int:version>/thresholds")
@session.page_for(ADMIN)
def thresholds(name: str, version: int) -> ResponseReturnValue:
    """PATCH /models/{id} with the thresholds, through Eve (its validation and hooks)."""
    model = version_of(name, version)
    form = ThresholdsForm()
    if not form.validate_on_submit():
        flash(refusal_of(form), "error")
        return version_page(name, version, form=form, status=400)
    body, _, _, status = patch_internal(
        "models", {"drift_threshold": form.drift_threshold.data,
                   "review_threshold": form.review_threshold.data}, _id=ObjectId(model["_id"]))
    if status != 200:
        flash(f"not saved: {body.get('_issues') or body.get('_error')}", "error")
        return version_page(name, version, form=form, status=status)
    flash("thresholds saved", "ok")
    return redirect(url_for("ui.version_page", name=name, version=version))


@blueprint.post("/models/<name>/<int:version>/promote")
@session.page_for(ADMIN)
def promote(name: str, version: int) -> ResponseReturnValue:
    """Give the `production` alias to a version (the page's shadow), through Eve's own
    PATCH of /models/{id} (its validation, and the hook that takes the alias from the
    version that had it)."""
    form = PromoteForm()
    if not form.validate_on_submit():
        flash(refusal_of(form), "error")
        return version_page(name, version, status=400)
    target = version_of(name, int(form.version.data or 0))
    aliases = sorted({*target.get("aliases", []), PRODUCTION})
    body, _, _, status = patch_internal("models", {"aliases": aliases},
                                        _id=ObjectId(target["_id"]))
    if status != 200:
        flash(f"not promoted: {body.get('_issues') or body.get('_error')}", "error")
        return version_page(name, version, status=status)
    flash(f"v{target['version']} is now {PRODUCTION}", "ok")
    return redirect(url_for("ui.version_page", name=name, version=target["version"]))


@blueprint.get("/review")
@session.page_for(ADMIN, REVIEWER)
def review_queue(status: int = 200) -> tuple[str, int]:
    rows, total = review.pending(db(), current_app.config["UI_REVIEW_PAGE_ROWS"])
    for row in rows:
        result = row["prediction"].get("result") or {}
        row["form"] = FeedbackForm(formdata=None, data={
            "prediction": str(row["prediction"]["_id"]), "actual": result.get("label")})
    return render_template("ui/review.html", rows=rows, total=total), status


@blueprint.post("/review")
@session.page_for(ADMIN, REVIEWER)
def review_post() -> ResponseReturnValue:
    form = FeedbackForm()
    if not form.validate_on_submit():
        flash(f"not saved: {refusal_of(form)}", "error")
        return review_queue(status=400)
    stored, reason = review.send_feedback(form.prediction.data, form.actual.data)
    if not stored:
        flash(f"not saved: {reason}", "error")
        return review_queue(status=422)
    flash(f"prediction {form.prediction.data} labelled {form.actual.data!r}", "ok")
    return redirect(url_for("ui.review_queue"))


def refused_page(exc: HTTPException) -> tuple[str, int]:
    """A page's refusal (403 for another role, 404, 400) as a page, with the frame to
    go back or log out."""
    g.account = g.get("account") or session.signed_in()
    return render_template("ui/error.html", code=exc.code, name=exc.name,
                           message=exc.description), exc.code or 500


for code in (400, 403, 404):  # by code: Eve's own handlers of these codes come first else
    blueprint.register_error_handler(code, refused_page)


def attach(app: Flask) -> None:
    session.attach(app)
    app.register_blueprint(blueprint, url_prefix=session.UI_PREFIX)
