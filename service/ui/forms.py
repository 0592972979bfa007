"""The /ui/ pages' forms (Flask-WTF): each carries a CSRF token tied to the session,
and a form posted without it, or with another session's, is refused."""
from flask_wtf import FlaskForm
from wtforms import FloatField, HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, NumberRange, Optional


class LoginForm(FlaskForm):
    token = PasswordField("Token (admin, reviewer or analyst)", validators=[InputRequired()])


class LogoutForm(FlaskForm):
    pass


class FeedbackForm(FlaskForm):
    """One per prediction of the review queue: the right label (the model's answer
    preselected, so confirming it is one click)."""
    prediction = HiddenField(validators=[InputRequired()])
    actual = StringField("Right label", validators=[InputRequired()])


class PromoteForm(FlaskForm):
    """Give the `production` alias to this version (the version page's shadow)."""
    version = HiddenField(validators=[InputRequired()])


class ThresholdsForm(FlaskForm):
    drift_threshold = FloatField("Drift threshold (PSI)",
                                 validators=[InputRequired(), NumberRange(min=1e-9, max=1e6)])
    review_threshold = FloatField("Review below (top probability; empty: off)",
                                  validators=[Optional(), NumberRange(min=0, max=1)])


def refusal_of(form: FlaskForm) -> str:
    """What was wrong with a posted form, in one line."""
    return "; ".join(f"{'form' if name == 'csrf_token' else name}: {' '.join(errors)}"
                     for name, errors in form.errors.items())
