"""The benchmark's floor: a Flask app that answers every POST with one fixed TwiML document.

`python -m ivr bench` serves it with the very same gunicorn command as the line, so the gap
between the two is what the line's own work costs. The document is about the size of a menu.
"""
from flask import Flask, Response

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Gather action="/voice/fr/key" actionOnEmptyResult="false" finishOnKey="" input="dtmf" '
    'method="POST" numDigits="1" timeout="6">'
    '<Say language="fr-BE" voice="Polly.Isabelle-Neural">Menu principal.</Say>'
    '<Say language="fr-BE" voice="Polly.Isabelle-Neural">Pour une urgence, appuyez sur 1.</Say>'
    '<Say language="fr-BE" voice="Polly.Isabelle-Neural">Pour les violences dans le couple, appuyez sur 2.</Say>'
    '<Say language="fr-BE" voice="Polly.Isabelle-Neural">Pour un soutien psychologique, ou si vous pensez au '
    'suicide, appuyez sur 3.</Say>'
    '<Say language="fr-BE" voice="Polly.Isabelle-Neural">Pour les violences sexuelles, appuyez sur 4.</Say>'
    '<Say language="fr-BE" voice="Polly.Isabelle-Neural">Pour les enfants, les jeunes et l\'école, appuyez sur 5.</Say>'
    '<Say language="fr-BE" voice="Polly.Isabelle-Neural">Pour l\'aide aux victimes et la police, appuyez sur 6.</Say>'
    '</Gather><Redirect method="POST">/voice/fr/node?n=1</Redirect></Response>'
)


def create_floor() -> Flask:
    app = Flask(__name__)

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def fixed(path):
        return Response(TWIML, mimetype="text/xml")

    return app
