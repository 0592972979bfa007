FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock
COPY settings.py run.py ./
COPY service ./service
COPY core ./core
COPY jobs ./jobs
COPY cli ./cli
COPY artifacts ./artifacts
COPY tools/ui_assets.py ./tools/
RUN python tools/ui_assets.py
RUN useradd --create-home --uid 1000 app
USER app
ENV LISTEN_HOST=0.0.0.0 PORT=5000 PYTHONUNBUFFERED=1
EXPOSE 5000
CMD ["python", "run.py"]
