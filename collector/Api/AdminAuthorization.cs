using System.Security.Cryptography;
using System.Text;
using Vigil.Collector.Configuration;

namespace Vigil.Collector.Api;

/// <summary>
/// API writes (reload and future admin calls) need the admin token when one is configured. Without a
/// token they are open, like Prometheus with --web.enable-lifecycle: bind the API to a trusted network.
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
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return false;
        }

        // Constant-time comparison: response timing must not reveal how much of a guess was right.
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[7..].Trim()), Encoding.UTF8.GetBytes(options.AdminToken));
    }

    public static IResult Denied() => Results.Json(
        new { status = "error", errorType = "unauthorized", error = "this call needs the admin token: send 'Authorization: Bearer TOKEN' (server.admin_token / VIGIL_ADMIN_TOKEN)" },
        statusCode: StatusCodes.Status401Unauthorized);
}
