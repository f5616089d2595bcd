"""The media types the service answers with besides JSON and HTML."""

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SVG = "image/svg+xml"
PNG = "image/png"
PARQUET = "application/vnd.apache.parquet"
