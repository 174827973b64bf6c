using System.Security.Cryptography;
using System.Text;
using Vigil.Collector.Configuration;

namespace Vigil.Collector.Api;

/// <summary>
/// API writes (every endpoint marked <c>.AdminOnly()</c>; docs/security.md lists them) need the admin
/// token when one is configured. Without a token they are open, like Prometheus with
/// --web.enable-lifecycle: bind the API to a trusted network (Vigil warns at start when it is not).
/// </summary>
public static class AdminAuthorization
{
    public static bool IsAllowed(HttpRequest request, VigilOptions options)
    {
        if (options.AdminToken is null)
        {
            return true;
        }

        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && IsAdminToken(header[7..].Trim(), options);
    }

    /// <summary>
    /// Whether <paramref name="presented"/> is the admin token. Both sides are hashed first, so the
    /// constant-time comparison also hides the token's length, and a wrong guess says nothing about how
    /// much of it was right.
    /// </summary>
    public static bool IsAdminToken(string? presented, VigilOptions options)
    {
        if (options.AdminToken is null || string.IsNullOrEmpty(presented))
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(presented)),
            SHA256.HashData(Encoding.UTF8.GetBytes(options.AdminToken)));
    }

    public static IResult Denied() => Results.Json(
        new { status = "error", errorType = "unauthorized", error = "this call needs the admin token: send 'Authorization: Bearer TOKEN' (server.admin_token / VIGIL_ADMIN_TOKEN)" },
        statusCode: StatusCodes.Status401Unauthorized);
}
