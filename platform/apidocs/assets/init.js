// Renders the service's own /openapi.yaml; no asset comes from a CDN.
window.ui = SwaggerUIBundle({
  url: new URL("../openapi.yaml", window.location.href).toString(),
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: true,
});
