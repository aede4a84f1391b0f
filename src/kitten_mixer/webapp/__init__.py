"""The Kitten Mixer web app: `kitten-mixer app` (launch.py) runs `streamlit_app.py` in Streamlit.

core.py computes what the page shows and visitor.py keeps each visitor's choices, both without
Streamlit; background.py serves the app for tests, benchmarks and screenshots.
"""
