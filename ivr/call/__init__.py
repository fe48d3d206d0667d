"""The call: from where a caller is and what they pressed, what happens next (flow), what is said
(speech) and the TwiML that says it (twiml). Pure functions over the menu model."""
