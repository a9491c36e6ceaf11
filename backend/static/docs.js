// The API reference: Swagger UI, served from the installed swagger-ui-bundle-v2 package (no CDN).
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
