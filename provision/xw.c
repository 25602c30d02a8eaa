/* Thin helpers over libxml2's xmlTextWriter and XPath: every XML classlab makes or reads. */
#include "provision_internal.h"
#include "classlab/banned.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

int cl_xw_begin(cl_xw *x)
{
	x->failed = 0;
	x->buf = xmlBufferCreate();
	x->w = x->buf ? xmlNewTextWriterMemory(x->buf, 0) : NULL;
	if (!x->w) {
		if (x->buf)
			xmlBufferFree(x->buf);
		x->buf = NULL;
		return cl_error_set(CL_EFAIL, "cannot create an XML writer");
	}
	xmlTextWriterSetIndent(x->w, 1);
	xmlTextWriterSetIndentString(x->w, BAD_CAST "  ");
	return 0;
}

void cl_xw_start(cl_xw *x, const char *name)
{
	if (xmlTextWriterStartElement(x->w, BAD_CAST name) < 0)
		x->failed = 1;
}

void cl_xw_attr(cl_xw *x, const char *name, const char *value)
{
	if (xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value) < 0)
		x->failed = 1;
}

void cl_xw_attrf(cl_xw *x, const char *name, const char *fmt, ...)
{
	char val[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	cl_xw_attr(x, name, val);
}

void cl_xw_text(cl_xw *x, const char *text)
{
	if (xmlTextWriterWriteString(x->w, BAD_CAST text) < 0)
		x->failed = 1;
}

void cl_xw_elem(cl_xw *x, const char *name, const char *text)
{
	if (xmlTextWriterWriteElement(x->w, BAD_CAST name, BAD_CAST text) < 0)
		x->failed = 1;
}

void cl_xw_end(cl_xw *x)
{
	if (xmlTextWriterEndElement(x->w) < 0)
		x->failed = 1;
}

void cl_xw_abort(cl_xw *x)
{
	if (x->w)
		xmlFreeTextWriter(x->w);
	if (x->buf)
		xmlBufferFree(x->buf);
	x->w = NULL;
	x->buf = NULL;
}

int cl_xw_finish(cl_xw *x, cl_buf *out, const char *what)
{
	int rc = 0;

	if (xmlTextWriterEndDocument(x->w) < 0 || xmlTextWriterFlush(x->w) < 0)
		x->failed = 1;
	if (x->failed)
		rc = cl_error_set(CL_EFAIL, "cannot write %s XML", what);
	else
		cl_buf_add(out, xmlBufferContent(x->buf), (size_t)xmlBufferLength(x->buf));
	cl_xw_abort(x);
	return rc;
}

char *cl_xml_xpath_str(const char *xml, const char *expr)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "in.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlXPathContextPtr ctx = NULL;
	xmlXPathObjectPtr obj = NULL;
	char *res = NULL;

	if (!doc)
		return NULL;
	ctx = xmlXPathNewContext(doc);
	if (ctx)
		obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	if (obj) {
		xmlChar *s = xmlXPathCastToString(obj);
		if (s && *s)
			res = cl_strdup((const char *)s);
		xmlFree(s);
	}
	xmlXPathFreeObject(obj);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return res;
}
