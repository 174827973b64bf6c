using Vigil.Collector.Api;
using Vigil.Collector.Configuration;

namespace Vigil.Collector.Security;

/// <summary>What an API endpoint needs: nothing, read access to a tenant, or the admin token.</summary>
public enum AccessKind
{
    Public,
    Read,
    Admin,
}

/// <summary>Marks an API endpoint's access; every endpoint of the API listener carries one (a test holds the house to it).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class ApiAccessAttribute(AccessKind kind) : Attribute
{
    public AccessKind Kind { get; } = kind;
}

/// <summary>
/// The three access levels as endpoint conventions. The checks run as endpoint filters before the
/// handler, so a handler never runs for a refused request; a read handler takes its scope from
/// <see cref="ReadScope.Of"/>.
/// </summary>
public static class ApiAccess
{
    /// <summary>Answers anyone: health, readiness, build info (no tenant data).</summary>
    public static TBuilder Public<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiAccessAttribute(AccessKind.Public));

    /// <summary>Needs read access (<see cref="ReadAccess"/>) and answers within the request's tenant scope.</summary>
    public static TBuilder ReadScoped<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiAccessAttribute(AccessKind.Read)).AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            if (!http.RequestServices.GetRequiredService<ReadAccess>().TryAuthorize(http.Request, out var scope, out var denied))
            {
                return denied;
            }

            http.Items[typeof(ReadScope)] = scope;
            return await next(context);
        });

    /// <summary>Writes and lifecycle calls: need <c>server.admin_token</c> when it is set.</summary>
    public static TBuilder AdminOnly<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiAccessAttribute(AccessKind.Admin)).AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            if (!AdminAuthorization.IsAllowed(http.Request, http.RequestServices.GetRequiredService<VigilOptions>()))
            {
                http.Response.Headers.WWWAuthenticate = "Bearer realm=\"vigil-admin\"";
                return AdminAuthorization.Denied();
            }

            return await next(context);
        });
}
