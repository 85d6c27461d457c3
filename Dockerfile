# SmartPay production image: one image for web (ASGI), worker and beat.
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# Bookworm: its postgresql-client (15) matches the compose PostgreSQL, so `manage.py
# backup`'s pg_dump and pg_restore speak the server's version.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/var/lib/smartpay STATIC_ROOT=/app/staticfiles
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /home/smartpay smartpay
WORKDIR /app
COPY pyproject.toml ./
COPY smartpay ./smartpay
COPY marketplace ./marketplace
COPY escrow ./escrow
COPY disputes ./disputes
COPY notifications ./notifications
RUN pip install --no-cache-dir .
COPY . .
COPY --from=assets /build/node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
RUN mkdir -p "$DATA_DIR" && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v0 \
    && chown -R smartpay "$DATA_DIR"
USER smartpay
EXPOSE 8000
CMD ["uvicorn", "smartpay.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", "--forwarded-allow-ips", "*"]
