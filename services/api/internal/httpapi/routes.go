package httpapi

import (
	"github.com/gin-gonic/gin"
	swaggerfiles "github.com/swaggo/files"
	ginswagger "github.com/swaggo/gin-swagger"

	_ "github.com/instachat/instachat/services/api/internal/apidocs" // the generated Swagger spec
	"github.com/instachat/instachat/services/api/internal/chatpage"
	"github.com/instachat/instachat/services/api/internal/dashboard"
)

// addRoutes is the whole API surface in one place.
func addRoutes(r *gin.Engine, h *handlers) {
	r.GET("/", h.landing)
	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/swagger/*any", ginswagger.WrapHandler(swaggerfiles.Handler))
	// The chat page: plain HTML and JavaScript over the public API below.
	chat := chatpage.New(chatpage.Config{})
	r.GET("/chat", gin.WrapH(chat.Page()))
	r.GET("/chat/assets/*file", gin.WrapH(chat.Assets()))

	// The rate limits run before the handlers: a refused request changes
	// nothing. Reads are not limited.
	v1 := r.Group("/api/v1")
	v1.POST("/applications", h.limits.perClient(), h.createApplication)
	app := v1.Group("/applications/:token", h.limits.perApplication())
	app.GET("", h.getApplication)
	app.PUT("", h.updateApplication)
	app.PATCH("", h.updateApplication)
	app.GET("/settings", h.getSettings)
	app.PUT("/settings", h.changeSettings)
	app.PATCH("/settings", h.changeSettings)
	app.POST("/settings/webhooks/:id/rotate-secret", h.rotateSecret)
	// Live events: SSE, or WebSocket on Upgrade; they last as long as the client stays.
	app.GET("/events", h.appEvents)
	app.GET("/chats/:number/events", h.chatEvents)

	app.POST("/chats", h.createChat)
	app.GET("/chats", h.listChats)
	app.GET("/chats/:number", h.getChat)
	app.DELETE("/chats/:number", h.deleteChat)

	msgs := app.Group("/chats/:number/messages")
	msgs.POST("", h.createMessage)
	msgs.GET("", h.listMessages)
	msgs.GET("/search", h.searchMessages)
	msgs.GET("/:message", h.getMessage)
	msgs.PUT("/:message", h.updateMessage)
	msgs.PATCH("/:message", h.updateMessage)
	msgs.DELETE("/:message", h.deleteMessage)

	internal := r.Group("/internal", h.requireInternalToken)
	internal.POST("/reindex", h.reindex)

	// Cross-site state changes are refused before the credential is looked
	// at: a browser would attach cached Basic credentials to them.
	admin := r.Group("/admin", sameOrigin(), h.requireAdmin)
	admin.GET("/dead", h.listDead)
	admin.DELETE("/dead", h.discardAllDead)
	admin.POST("/dead/replay-all", h.replayAllDead)
	admin.POST("/dead/:id/replay", h.replayDead)
	admin.DELETE("/dead/:id", h.discardDead)
	admin.POST("/index/rebuild", h.startRebuild)
	admin.GET("/index/rebuild", h.rebuildProgress)
	admin.GET("/applications/:token/webhook-deliveries", h.webhookDeliveries)

	// The queue dashboard, a page per lane (jobsDashboardPath,
	// hooksDashboardPath).
	mountDashboard(admin.Group("/queues"), h.dashboard)
	hooks := admin.Group("/queues/hooks")
	if h.hooksDashboard != nil {
		mountDashboard(hooks, h.hooksDashboard)
	} else {
		hooks.GET("", h.hooksOff)
	}
}

// mountDashboard serves a queue dashboard on g: an HTML page for browsers
// (Basic auth prompts), its embedded assets, and the forms that retry or
// discard dead jobs, which post below the page's own path.
func mountDashboard(g *gin.RouterGroup, d *dashboard.Dashboard) {
	g.GET("", gin.WrapH(d.Page()))
	g.GET("/assets/*file", gin.WrapH(d.Assets()))
	g.POST("/dead/retry", gin.WrapH(d.Retry()))
	g.POST("/dead/discard", gin.WrapH(d.Discard()))
	g.POST("/dead/retry-all", gin.WrapH(d.RetryAll()))
	g.POST("/dead/discard-all", gin.WrapH(d.DiscardAll()))
}
