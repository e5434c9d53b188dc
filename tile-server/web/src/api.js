// The service-doc page: Swagger UI over the server's own OpenAPI document (/api), resolved against
// this page's address so it works behind a path prefix too. A script file, not inline: the
// server's Content-Security-Policy allows scripts from 'self' only.
window.ui = SwaggerUIBundle({
  url: new URL('../api', window.location.href).href,
  dom_id: '#swagger-ui',
  deepLinking: true,
});
