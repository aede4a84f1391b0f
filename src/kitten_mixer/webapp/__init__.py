"""The Kitten Mixer web app: `kitten-mixer app` (launch.py) runs `streamlit_app.py` in Streamlit.

core.py computes what the page shows and visitor.py owns each visitor's state (their choices,
settings and own cats, and the rules for changing them; own.py keeps their kittens in the
kitten store, stored.py turns stored kittens into cats), all without Streamlit; launch.py also
serves the app in the background for deploy/serve_many.py, tests, benchmarks and screenshots.
"""
