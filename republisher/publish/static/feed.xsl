<?xml version="1.0" encoding="utf-8"?>
<!--
  Shows a republisher Atom feed as a page when someone opens it in a browser.
  Feed readers ignore this stylesheet; the feed itself is plain Atom 1.0.
  XSLT 1.0 only (the one version browsers run). Summaries are HTML that republisher has
  already sanitized, so they are copied as markup (disable-output-escaping); a browser
  that ignores that option shows them as text, which is still readable.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    exclude-result-prefixes="atom">
  <xsl:output method="html" encoding="utf-8" indent="yes" doctype-system="about:legacy-compat"/>

  <xsl:variable name="self" select="/atom:feed/atom:link[@rel='self']/@href"/>
  <!-- The HTML alternate (index.html); a feed may also have a JSON Feed alternate. -->
  <xsl:variable name="home"
      select="/atom:feed/atom:link[@rel='alternate'][not(@type) or @type='text/html'][1]/@href"/>

  <xsl:template match="/atom:feed">
    <html lang="en">
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="atom:title"/> (web feed)</title>
        <style>
:root { color-scheme: light dark; --fg: #1d1d1f; --muted: #555; --line: #ddd; --link: #0645ad;
        --note: #eef4ff; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8e8ea; --muted: #b0b0b8; --line: #444; --link: #8ab4f8; --note: #1f2a3d; }
}
body { font: 16px/1.55 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
       color: var(--fg); }
a { color: var(--link); }
a:focus-visible { outline: 3px solid var(--link); outline-offset: 2px; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
.subtitle { margin-top: 0; }
.note { background: var(--note); border-radius: 6px; padding: 0.8rem 1rem; }
.note code { word-break: break-all; }
article { border-top: 1px solid var(--line); padding: 0.4rem 0 0.8rem; }
h2 { font-size: 1.15rem; margin-bottom: 0.1rem; }
.meta { color: var(--muted); font-size: 0.9rem; margin: 0; }
.summary img { max-width: 100%; height: auto; }
        </style>
      </head>
      <body>
        <header>
          <h1><xsl:value-of select="atom:title"/></h1>
          <p class="subtitle"><xsl:value-of select="atom:subtitle"/></p>
          <p class="note" role="note">
            <strong>This is a web feed.</strong> To subscribe, copy its address into your feed
            reader: <code><xsl:value-of select="$self"/></code>.
            <xsl:if test="$home"> <a href="{$home}">All feeds</a>.</xsl:if>
          </p>
        </header>
        <main>
          <xsl:apply-templates select="atom:entry"/>
          <xsl:if test="not(atom:entry)">
            <p>No entries yet.</p>
          </xsl:if>
        </main>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="atom:entry">
    <xsl:variable name="link" select="atom:link[not(@rel) or @rel='alternate'][1]/@href"/>
    <article>
      <h2>
        <xsl:choose>
          <xsl:when test="$link"><a href="{$link}"><xsl:value-of select="atom:title"/></a></xsl:when>
          <xsl:otherwise><xsl:value-of select="atom:title"/></xsl:otherwise>
        </xsl:choose>
      </h2>
      <p class="meta">
        <xsl:variable name="when" select="(atom:published | atom:updated)[1]"/>
        <time datetime="{$when}">
          <xsl:value-of select="substring($when, 1, 10)"/>
          <xsl:text> </xsl:text>
          <xsl:value-of select="substring($when, 12, 5)"/>
          <xsl:variable name="zone" select="substring($when, 20)"/>
          <xsl:choose>
            <xsl:when test="$zone = 'Z' or $zone = '+00:00'"> UTC</xsl:when>
            <xsl:otherwise><xsl:value-of select="concat(' ', $zone)"/></xsl:otherwise>
          </xsl:choose>
        </time>
        <xsl:if test="atom:author/atom:name">
          <xsl:text> · </xsl:text>
          <xsl:value-of select="atom:author/atom:name"/>
        </xsl:if>
        <xsl:if test="atom:source/atom:title">
          <xsl:text> · from </xsl:text>
          <xsl:value-of select="atom:source/atom:title"/>
        </xsl:if>
      </p>
      <xsl:if test="atom:summary">
        <div class="summary">
          <xsl:choose>
            <xsl:when test="atom:summary/@type='html'">
              <xsl:value-of select="atom:summary" disable-output-escaping="yes"/>
            </xsl:when>
            <xsl:otherwise><p><xsl:value-of select="atom:summary"/></p></xsl:otherwise>
          </xsl:choose>
        </div>
      </xsl:if>
    </article>
  </xsl:template>
</xsl:stylesheet>
